"""gdb script: steps through one `Connection::on_event` of the unit test
`departure_a_fin_while_a_worker_holds_the_exchange` and writes every
function entered (depth, file, name) to $TRACE_OUT. Run by departure.sh;
$ON_EVENT_LINE is the first line of `on_event`'s body."""
import os

import gdb
gdb.execute("set pagination off")
gdb.execute("set confirm off")
for pat in ["/rustc/*", "*/.cargo/registry/*", "*/rustlib/*"]:
    gdb.execute(f"skip -gfi {pat}")
gdb.execute("break tether::conn::tests::Bed::client_fin")
gdb.execute("run")
# now inside client_fin; break on on_event
gdb.execute("break src/conn/mod.rs:" + os.environ["ON_EVENT_LINE"])
gdb.execute("continue")
start = gdb.selected_frame()
def depth(f):
    d = 0
    while f is not None:
        d += 1; f = f.older()
    return d
base = depth(start)
calls = []
prev = None
steps = 0
while True:
    f = gdb.selected_frame()
    d = depth(f)
    if d < base:
        break
    name = f.name() or "?"
    sal = f.find_sal()
    fname = sal.symtab.filename if sal and sal.symtab else "?"
    key = (name, fname, d)
    if prev is None or key[:3] != prev[:3]:
        calls.append((d - base, name, fname))
    prev = key
    gdb.execute("step", to_string=True)
    steps += 1
    if steps > 200000:
        break
with open(os.environ["TRACE_OUT"], "w") as out:
    for d, name, fname in calls:
        out.write(f"{d}\t{fname}\t{name}\n")
gdb.execute("kill")
gdb.execute("quit")
