//! Every [`Config`] field by name, as text: set from a command line or a
//! file (`Config::set("idle_timeout", "5s")`), and listed with the values
//! in use (`Config::settings`).

use std::time::Duration;

use super::{Config, HalfClosePolicy, Keepalive, WsBackpressure};
use crate::Error;

/// A field's type, as text: how it is written and read back.
pub(super) trait Setting: Sized {
    /// What the text must look like, for the error message.
    const FORM: &'static str;
    fn parse(text: &str) -> Option<Self>;
    fn show(&self) -> String;
}

/// `30s`, `250ms`, `2m`, `1h`, or `never` (`Duration::MAX`).
impl Setting for Duration {
    const FORM: &'static str = "a duration such as 250ms, 30s, 2m, 1h, or never";

    fn parse(text: &str) -> Option<Self> {
        if text == "never" {
            return Some(Duration::MAX);
        }
        let split = text.find(|c: char| !c.is_ascii_digit())?;
        let (number, unit) = text.split_at(split);
        let number: u64 = number.parse().ok()?;
        match unit {
            "ms" => Some(Duration::from_millis(number)),
            "s" => Some(Duration::from_secs(number)),
            "m" => number.checked_mul(60).map(Duration::from_secs),
            "h" => number.checked_mul(3600).map(Duration::from_secs),
            _ => None,
        }
    }

    fn show(&self) -> String {
        if *self == Duration::MAX {
            "never".to_string()
        } else if self.subsec_nanos() == 0 {
            format!("{}s", self.as_secs())
        } else {
            format!("{}ms", self.as_millis())
        }
    }
}

/// A count or a size: `65536`, `64KiB`, `16MiB`, `1GiB`.
fn parse_size(text: &str) -> Option<u64> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().ok()?;
    let scale: u64 = match unit {
        "" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        _ => return None,
    };
    number.checked_mul(scale)
}

macro_rules! sizes {
    ($($ty:ty),*) => {$(
        impl Setting for $ty {
            const FORM: &'static str = "a whole number, optionally with KiB, MiB or GiB";

            fn parse(text: &str) -> Option<Self> {
                parse_size(text).and_then(|n| n.try_into().ok())
            }

            fn show(&self) -> String {
                self.to_string()
            }
        }
    )*};
}

sizes!(usize, u64, u32, i32);

/// `on` or `off`.
impl Setting for bool {
    const FORM: &'static str = "on or off";

    fn parse(text: &str) -> Option<Self> {
        match text {
            "on" => Some(true),
            "off" => Some(false),
            _ => None,
        }
    }

    fn show(&self) -> String {
        if *self { "on" } else { "off" }.to_string()
    }
}

impl Setting for HalfClosePolicy {
    const FORM: &'static str = "abort or finish";

    fn parse(text: &str) -> Option<Self> {
        match text {
            "abort" => Some(HalfClosePolicy::Abort),
            "finish" => Some(HalfClosePolicy::Finish),
            _ => None,
        }
    }

    fn show(&self) -> String {
        match self {
            HalfClosePolicy::Abort => "abort",
            HalfClosePolicy::Finish => "finish",
        }
        .to_string()
    }
}

impl Setting for WsBackpressure {
    const FORM: &'static str = "fail, drop_oldest or close";

    fn parse(text: &str) -> Option<Self> {
        match text {
            "fail" => Some(WsBackpressure::Fail),
            "drop_oldest" => Some(WsBackpressure::DropOldest),
            "close" => Some(WsBackpressure::Close),
            _ => None,
        }
    }

    fn show(&self) -> String {
        match self {
            WsBackpressure::Fail => "fail",
            WsBackpressure::DropOldest => "drop_oldest",
            WsBackpressure::Close => "close",
        }
        .to_string()
    }
}

/// `IDLE,INTERVAL,COUNT` (`10s,5s,3`), or `off`.
impl Setting for Option<Keepalive> {
    const FORM: &'static str = "IDLE,INTERVAL,COUNT such as 10s,5s,3, or off";

    fn parse(text: &str) -> Option<Self> {
        if text == "off" {
            return Some(None);
        }
        let mut parts = text.split(',');
        let idle = Duration::parse(parts.next()?)?;
        let interval = Duration::parse(parts.next()?)?;
        let retries = parts.next()?.parse().ok()?;
        if parts.next().is_some() {
            return None;
        }
        Some(Some(Keepalive {
            idle,
            interval,
            retries,
        }))
    }

    fn show(&self) -> String {
        match self {
            None => "off".to_string(),
            Some(k) => format!("{},{},{}", k.idle.show(), k.interval.show(), k.retries),
        }
    }
}

/// A duration, or `off`.
impl Setting for Option<Duration> {
    const FORM: &'static str = "a duration such as 20s, or off";

    fn parse(text: &str) -> Option<Self> {
        if text == "off" {
            return Some(None);
        }
        Duration::parse(text).map(Some)
    }

    fn show(&self) -> String {
        self.as_ref().map_or("off".to_string(), Duration::show)
    }
}

/// A size, or `off`.
impl Setting for Option<u32> {
    const FORM: &'static str = "a size such as 128KiB, or off";

    fn parse(text: &str) -> Option<Self> {
        if text == "off" {
            return Some(None);
        }
        u32::parse(text).map(Some)
    }

    fn show(&self) -> String {
        self.as_ref().map_or("off".to_string(), u32::show)
    }
}

/// Parses `text` as the field's type.
pub(super) fn parse_as<T: Setting>(name: &str, text: &str) -> Result<T, Error> {
    T::parse(text.trim()).ok_or_else(|| Error::InvalidSetting {
        name: name.to_string(),
        why: format!("{text:?} is not {}", T::FORM),
    })
}

impl Config {
    /// Sets the field called `name` (as in the struct, e.g. `idle_timeout`)
    /// from text: durations as `250ms`, `30s`, `2m`, `1h` or `never`; sizes
    /// as `65536` or `64KiB`/`16MiB`/`1GiB`; `keepalive` as
    /// `IDLE,INTERVAL,COUNT` or `off`; `tcp_user_timeout` as a duration or
    /// `off`; `tcp_notsent_lowat` as a size or `off`; `half_close` as
    /// `abort`/`finish`; `ws_backpressure` as `fail`/`drop_oldest`/`close`;
    /// switches (`memory_share_per_client`) as `on`/`off`.
    ///
    /// An unknown name or a value of the wrong form is an
    /// [`Error::InvalidSetting`] saying what was expected; the field is left
    /// as it was. Whether the fields make sense together is checked by
    /// [`Config::validate`] (and when the server starts).
    ///
    /// ```
    /// use std::time::Duration;
    /// let mut config = tether::Config::default();
    /// config.set("idle_timeout", "5s")?;
    /// config.set("keepalive", "30s,5s,4")?;
    /// config.set("max_body_bytes", "4MiB")?;
    /// assert_eq!(config.idle_timeout, Duration::from_secs(5));
    /// assert_eq!(config.max_body_bytes, 4 << 20);
    /// let err = config.set("idle_timeout", "soon").unwrap_err();
    /// assert!(err.to_string().contains("a duration such as"));
    /// assert!(config.set("idle_timout", "5s").is_err());
    /// # Ok::<(), tether::Error>(())
    /// ```
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), Error> {
        self.set_field(name, value).unwrap_or_else(|| {
            Err(Error::InvalidSetting {
                name: name.to_string(),
                why: format!(
                    "no such setting; the settings are {}",
                    Self::NAMES.join(", ")
                ),
            })
        })
    }

    /// Every field's name and its value, written as [`Config::set`] reads
    /// it, in declaration order: what a status page shows.
    ///
    /// ```
    /// let config = tether::Config::default();
    /// let settings = config.settings();
    /// assert!(settings.contains(&("ws_ping_interval", "30s".to_string())));
    /// let mut copy = tether::Config::default().idle_timeout(std::time::Duration::MAX);
    /// for (name, value) in &settings {
    ///     copy.set(name, value)?;
    /// }
    /// assert_eq!(copy.settings(), settings);
    /// # Ok::<(), tether::Error>(())
    /// ```
    pub fn settings(&self) -> Vec<(&'static str, String)> {
        self.show_fields()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_back_as_written() {
        for text in ["250ms", "30s", "1500ms", "never"] {
            assert_eq!(Duration::parse(text).unwrap().show(), text);
        }
        assert_eq!(Duration::parse("2m"), Some(Duration::from_secs(120)));
        for bad in ["", "s", "5", "5 s", "-5s", "1.5s", "99999999999999999999h"] {
            assert_eq!(Duration::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn sizes_refuse_overflow_and_unknown_units() {
        assert_eq!(usize::parse("64KiB"), Some(65536));
        assert_eq!(i32::parse("4GiB"), None);
        assert_eq!(u64::parse("18446744073709551615GiB"), None);
        assert_eq!(u64::parse("5kb"), None);
    }

    #[test]
    fn every_field_is_listed_and_reads_back() {
        let config = Config::default();
        let settings = config.settings();
        assert_eq!(settings.len(), Config::NAMES.len());
        let mut copy = Config::default().max_connections(1).keepalive(None);
        for (name, value) in &settings {
            copy.set(name, value).unwrap();
        }
        assert_eq!(copy.settings(), settings);
    }

    #[test]
    fn a_bad_value_leaves_the_field_as_it_was() {
        let mut config = Config::default();
        let err = config.set("keepalive", "10s,5s").unwrap_err();
        assert!(err.to_string().contains("keepalive"), "{err}");
        assert_eq!(config.keepalive, Some(Keepalive::default()));
    }
}
