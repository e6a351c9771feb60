//! `reload [INTERVAL] [JITTER]`: every INTERVAL ± JITTER/2 (default 30 s ± 15 s; at least
//! 2 s, jitter 0 or at least 1 s and at most half the interval) kdns reads the Corefile again
//! (imports included) and, when its SHA-512 changed, loads it and swaps it in without dropping
//! a query. A Corefile that does not load is logged with `FILE:LINE` and the running one stays.
//! The loop itself lives with the serving lifecycle (`src/serve.rs`).
use std::time::Duration;

use crate::config::args;
use crate::config::syntax::{ConfigError, Line};

const D: &str = "reload";
/// The shortest INTERVAL `reload` accepts (CoreDNS's limit).
pub const MIN_INTERVAL: Duration = Duration::from_secs(2);
/// The shortest non-zero JITTER `reload` accepts (CoreDNS's limit).
pub const MIN_JITTER: Duration = Duration::from_secs(1);

/// A parsed `reload [INTERVAL] [JITTER]` directive (the default is 30 s ± 15 s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReloadConfig {
    /// How often the Corefile is checked for changes (INTERVAL, 30 s by default).
    pub interval: Duration,
    /// The spread around `interval`, ± half of it (JITTER, 15 s by default; at most half the
    /// interval).
    pub jitter: Duration,
}

impl Default for ReloadConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(30),
            jitter: Duration::from_secs(15),
        }
    }
}

impl ReloadConfig {
    /// The next wait: the interval moved by up to half the jitter either way.
    pub fn next_wait(&self) -> Duration {
        if self.jitter.is_zero() {
            return self.interval;
        }
        let j = self.jitter.as_nanos() as i128;
        let off = rand::random_range(0..j) - j / 2;
        Duration::from_nanos((self.interval.as_nanos() as i128 + off).max(0) as u64)
    }
}

/// Parses `reload [INTERVAL] [JITTER]` (no block), enforcing CoreDNS's minimums.
pub fn parse(line: &Line) -> Result<ReloadConfig, ConfigError> {
    args::no_block(line, D)?;
    let mut c = ReloadConfig::default();
    let a = line.args();
    if a.len() > 2 {
        return Err(ConfigError::at(
            &a[2],
            Some(D),
            "expects [INTERVAL] [JITTER]",
        ));
    }
    if let Some(t) = a.first() {
        c.interval = args::duration(t, D)?;
        if c.interval < MIN_INTERVAL {
            return Err(ConfigError::at(
                t,
                Some(D),
                format!("interval value must be greater or equal to {MIN_INTERVAL:?}"),
            ));
        }
    }
    if let Some(t) = a.get(1) {
        c.jitter = args::duration(t, D)?;
        if !c.jitter.is_zero() && c.jitter < MIN_JITTER {
            return Err(ConfigError::at(
                t,
                Some(D),
                format!("jitter value must be 0 or greater or equal to {MIN_JITTER:?}"),
            ));
        }
    }
    if c.jitter > c.interval / 2 {
        c.jitter = c.interval / 2;
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{load_str, Plugin};
    use std::path::Path;

    fn cfg(text: &str) -> Result<ReloadConfig, ConfigError> {
        let c = load_str(text, Path::new("Corefile"), 53)?;
        Ok(c.blocks[0]
            .plugins
            .iter()
            .find_map(|p| match p {
                Plugin::Reload(r) => Some(*r),
                _ => None,
            })
            .expect("a reload directive"))
    }

    #[test]
    fn parse_table() {
        let s = Duration::from_secs;
        for (text, want) in [
            (".:53 {\n reload\n}\n", Ok((s(30), s(15)))),
            (".:53 {\n reload 10s\n}\n", Ok((s(10), s(5)))),
            (".:53 {\n reload 10s 2s\n}\n", Ok((s(10), s(2)))),
            (".:53 {\n reload 2s 0s\n}\n", Ok((s(2), s(0)))),
            (
                ".:53 {\n reload 1s\n}\n",
                Err("Corefile:2: reload: interval value must be greater or equal to 2s"),
            ),
            (
                ".:53 {\n reload 10s 500ms\n}\n",
                Err("Corefile:2: reload: jitter value must be 0 or greater or equal to 1s"),
            ),
            (
                ".:53 {\n reload 10s 1s 1s\n}\n",
                Err("Corefile:2: reload: expects [INTERVAL] [JITTER]"),
            ),
            (
                ".:53 {\n reload often\n}\n",
                Err("Corefile:2: reload: invalid duration \"often\""),
            ),
        ] {
            match (cfg(text), want) {
                (Ok(c), Ok((i, j))) => assert_eq!((c.interval, c.jitter), (i, j), "{text}"),
                (Err(e), Err(w)) => assert!(e.to_string().starts_with(w), "{e} vs {w}"),
                (got, want) => panic!("{text}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn jittered_waits_stay_in_range() {
        let c = ReloadConfig {
            interval: Duration::from_secs(30),
            jitter: Duration::from_secs(15),
        };
        for _ in 0..100 {
            let w = c.next_wait();
            assert!(
                w >= Duration::from_millis(22_500) && w <= Duration::from_millis(37_500),
                "{w:?}"
            );
        }
    }
}
