//! The demo's command line. Every `Config` field can be changed without
//! copying the demo: the common ones have flags of their own, the rest go
//! through `--set name=value`, all checked by `Config::set`.

use std::time::Duration;

use tether::Config;

const DEFAULT_ADDR: &str = "127.0.0.1:8080";
const DEFAULT_TLS_ADDR: &str = "127.0.0.1:8443";

pub const USAGE: &str = "\
usage: demo [--addr HOST:PORT] [--workers N]
            [--keepalive IDLE,INTERVAL,COUNT|off] [--user-timeout DURATION|off]
            [--ws-ping INTERVAL,TIMEOUT] [--idle-timeout DURATION]
            [--response-timeout DURATION] [--set NAME=VALUE]...
            [--tls-addr HOST:PORT] [--tls-cert PEM --tls-key PEM | --tls-self-signed]
            [--redis redis://HOST:PORT] [--poll-ack-timeout DURATION|off]
            [--poll-claim-after DURATION]
durations: 250ms, 30s, 2m, 1h or never; sizes: 65536, 64KiB, 16MiB.
--set takes any Config field, e.g. --set max_body_bytes=4MiB
HTTPS and WSS (built with --features tls) on --tls-addr, 127.0.0.1:8443 by
default, beside plain HTTP on --addr.
--redis (or TETHER_REDIS; built with --features redis): the long-poll queue,
/feed and /ws/chat are shared by every demo process on that Redis.
--poll-ack-timeout: a polled message is owed an acknowledgement (POST /ack,
or ?ack=ID on the next poll) and goes to another poller after DURATION
without one; off (the default): the write is final.
--poll-claim-after (with --redis; default 10s): how long a message held by
a process that stopped answering waits before another claims it.";

/// Where HTTPS gets its certificate.
#[derive(Debug, Clone)]
#[cfg_attr(not(feature = "tls"), allow(dead_code))]
pub enum Certificate {
    Files { cert: String, key: String },
    SelfSigned,
}

pub struct Options {
    pub addr: String,
    pub workers: usize,
    pub config: Config,
    /// HTTPS: where, and with which certificate.
    pub tls: Option<(String, Certificate)>,
    /// The Redis that shares the queue and `/feed` between processes.
    pub redis: Option<String>,
    /// `--poll-ack-timeout`: `None` (off) makes a poll's write final.
    pub poll_ack_timeout: Option<Duration>,
    /// `--poll-claim-after`: the broker's default when `None`.
    pub poll_claim_after: Option<Duration>,
}

/// `off`, or a whole number of `ms`, `s`, `m` or `h` (`500ms`, `30s`).
fn duration_or_off(flag: &str, text: &str) -> Result<Option<Duration>, String> {
    if text == "off" {
        return Ok(None);
    }
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{flag}: {text:?} is not a duration such as 30s, or off"))?;
    match unit {
        "ms" => Ok(Some(Duration::from_millis(n))),
        "s" => Ok(Some(Duration::from_secs(n))),
        "m" => Ok(Some(Duration::from_secs(n.saturating_mul(60)))),
        "h" => Ok(Some(Duration::from_secs(n.saturating_mul(3600)))),
        _ => Err(format!(
            "{flag}: {text:?} is not a duration such as 30s, or off"
        )),
    }
}

/// Parses `args` (without the program name); the error is for the user.
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Options, String> {
    let mut options = Options {
        addr: std::env::var("TETHER_ADDR").unwrap_or_else(|_| DEFAULT_ADDR.to_string()),
        workers: 4,
        config: Config::default(),
        tls: None,
        redis: std::env::var("TETHER_REDIS")
            .ok()
            .filter(|url| !url.is_empty()),
        poll_ack_timeout: None,
        poll_claim_after: None,
    };
    let (mut tls_addr, mut cert, mut key, mut self_signed) = (None, None, None, false);
    let mut args = args.into_iter();
    while let Some(flag) = args.next() {
        if flag == "-h" || flag == "--help" {
            return Err(USAGE.to_string());
        }
        let mut value = || {
            args.next()
                .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))
        };
        let config = &mut options.config;
        let set = |config: &mut Config, name: &str, text: &str| {
            config
                .set(name, text)
                .map_err(|err| format!("{flag}: {err}"))
        };
        match flag.as_str() {
            "--addr" => options.addr = value()?,
            "--workers" => {
                let n = value()?;
                options.workers = match n.parse() {
                    Ok(n) if n > 0 => n,
                    _ => return Err(format!("--workers: {n:?} is not a number above 0")),
                };
            }
            "--keepalive" => set(config, "keepalive", &value()?)?,
            "--user-timeout" => set(config, "tcp_user_timeout", &value()?)?,
            "--idle-timeout" => set(config, "idle_timeout", &value()?)?,
            "--response-timeout" => set(config, "response_timeout", &value()?)?,
            "--ws-ping" => {
                let both = value()?;
                let Some((interval, timeout)) = both.split_once(',') else {
                    return Err(format!("--ws-ping: {both:?} is not INTERVAL,TIMEOUT"));
                };
                set(config, "ws_ping_interval", interval)?;
                set(config, "ws_pong_timeout", timeout)?;
            }
            "--set" => {
                let pair = value()?;
                let Some((name, text)) = pair.split_once('=') else {
                    return Err(format!("--set: {pair:?} is not NAME=VALUE"));
                };
                set(config, name.trim(), text)?;
            }
            "--tls-addr" => tls_addr = Some(value()?),
            "--tls-cert" => cert = Some(value()?),
            "--tls-key" => key = Some(value()?),
            "--tls-self-signed" => self_signed = true,
            "--redis" => options.redis = Some(value()?),
            "--poll-ack-timeout" => {
                options.poll_ack_timeout = duration_or_off("--poll-ack-timeout", &value()?)?;
            }
            "--poll-claim-after" => {
                let after = duration_or_off("--poll-claim-after", &value()?)?;
                options.poll_claim_after =
                    Some(after.ok_or("--poll-claim-after: a duration, not off")?);
            }
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    let certificate = match (cert, key, self_signed) {
        (None, None, false) => None,
        (Some(cert), Some(key), false) => Some(Certificate::Files { cert, key }),
        (None, None, true) => Some(Certificate::SelfSigned),
        (_, _, true) => return Err("--tls-self-signed or --tls-cert/--tls-key, not both".into()),
        _ => return Err("--tls-cert and --tls-key go together".into()),
    };
    options.tls = match (tls_addr, certificate) {
        (None, None) => None,
        (Some(_), None) => {
            return Err("--tls-addr needs --tls-cert and --tls-key, or --tls-self-signed".into())
        }
        (addr, Some(certificate)) => {
            Some((addr.unwrap_or_else(|| DEFAULT_TLS_ADDR.into()), certificate))
        }
    };
    options
        .config
        .validate()
        .map_err(|err| format!("the settings do not fit together: {err}"))?;
    Ok(options)
}

/// The settings in use as a JSON object, for the page.
pub fn settings_json(options: &Options) -> String {
    let mut fields = vec![("workers".to_string(), options.workers.to_string())];
    for (name, value) in options.config.settings() {
        fields.push((name.to_string(), value));
    }
    // Names are identifiers and values are written by `Config::settings`
    // (digits, letters, `,`): nothing to escape.
    let body: Vec<String> = fields
        .iter()
        .map(|(name, value)| format!("\"{name}\":\"{value}\""))
        .collect();
    format!("{{{}}}", body.join(","))
}
