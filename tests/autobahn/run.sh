#!/usr/bin/env bash
# Installs Autobahn|Testsuite (Python 2.7, in a virtualenv under target/) or,
# where no Python 2.7 exists, kosoku (the same case files on Python 3), then
# runs cases 1-10 against the demo's /ws. Usage: run.sh DEMO_BINARY [--wss]
# (--wss: over TLS, on a demo built with --features tls)
set -euo pipefail
cd "$(dirname "$0")/../.."
demo="$1"
shift
dir=target/autobahn
mkdir -p "$dir"
py2=$(ls "$(pyenv root 2>/dev/null || echo /nonexistent)"/versions/2.7*/bin/python 2>/dev/null | head -1 || true)
[ -n "$py2" ] || py2=$(command -v python2.7 || true)
if [ -n "$py2" ]; then
    if [ ! -x "$dir/venv/bin/wstest" ]; then
        echo "installing autobahntestsuite with $py2"
        "$py2" -m pip install --quiet --disable-pip-version-check 'virtualenv<20.22' 2>&1 | grep -v DEPRECATION || true
        "$py2" -m virtualenv -q "$dir/venv"
        "$dir/venv/bin/pip" install --quiet --disable-pip-version-check autobahntestsuite 2>&1 | grep -v DEPRECATION || true
    fi
    python3 tests/autobahn/run.py --wstest "$dir/venv/bin/wstest" "$demo" "$dir" "$@"
else
    echo "no Python 2.7: using kosoku"
    [ -x "$dir/kosoku-venv/bin/kosoku" ] || {
        python3 -m venv "$dir/kosoku-venv"
        "$dir/kosoku-venv/bin/pip" install --quiet --disable-pip-version-check kosoku
    }
    python3 tests/autobahn/run.py --kosoku "$dir/kosoku-venv/bin/kosoku" "$demo" "$dir" "$@"
fi
