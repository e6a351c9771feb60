//! `ready [ADDRESS] { monitor until-ready|continuously }`: `/ready` on `:8181` answers 200 `OK`
//! once every part that reports readiness is ready, else 503 with the names of the parts that
//! are not (comma-separated), and 503 `Shutting down` from the moment kdns starts to stop.
//!
//! A part (the kubernetes source) gets a [`ReadyFlag`] from [`Readiness::register`] and sets it.
//! With `until-ready` (the default) readiness is latched once reached.
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use super::args;
use crate::config::{ConfigError, Line};

const D: &str = "ready";
pub const DEFAULT_ADDR: &str = ":8181";

#[derive(Debug, Clone, PartialEq)]
pub struct ReadyConfig {
    pub addr: String,
    pub continuously: bool,
}

pub fn parse(line: &Line) -> Result<ReadyConfig, ConfigError> {
    let addr = args::optional_http_addr(line, DEFAULT_ADDR, D)?;
    let mut continuously = false;
    for o in args::block(line) {
        args::no_block(o, D)?;
        match o.name().text.as_str() {
            "monitor" => {
                let v = args::one(o, D, "until-ready or continuously")?;
                continuously = match v.text.as_str() {
                    "until-ready" => false,
                    "continuously" => true,
                    other => {
                        return Err(ConfigError::at(
                            v,
                            Some(D),
                            format!(
                                "monitor: invalid value {other:?} (until-ready or continuously)"
                            ),
                        ))
                    }
                };
            }
            _ => return Err(args::unknown(o, D)),
        }
    }
    Ok(ReadyConfig { addr, continuously })
}

/// Set by a part when it is ready to answer.
#[derive(Clone, Debug)]
pub struct ReadyFlag(Arc<AtomicBool>);

impl ReadyFlag {
    pub fn set(&self, ready: bool) {
        self.0.store(ready, Ordering::Release);
    }
    pub fn get(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

type Check = Box<dyn Fn() -> bool + Send + Sync>;

/// The parts of one loaded configuration that report readiness.
#[derive(Default)]
pub struct Readiness {
    parts: Mutex<Vec<(String, Check)>>,
    continuously: AtomicBool,
    latched: AtomicBool,
    stopping: AtomicBool,
}

impl Readiness {
    /// A new part, not ready until its flag is set.
    pub fn register(&self, name: &str) -> ReadyFlag {
        let f = ReadyFlag(Arc::new(AtomicBool::new(false)));
        let g = f.clone();
        self.register_check(name, move || g.get());
        f
    }

    /// A part whose readiness `check` reads (e.g. a source's synced flag).
    pub fn register_check(&self, name: &str, check: impl Fn() -> bool + Send + Sync + 'static) {
        self.parts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((name.to_string(), Box::new(check)));
    }

    pub fn set_continuously(&self, on: bool) {
        self.continuously.store(on, Ordering::Relaxed);
    }

    /// From now on `/ready` says `Shutting down`.
    pub fn stopping(&self) {
        self.stopping.store(true, Ordering::Release);
    }

    /// `Ok` when ready, else the reason `/ready` gives.
    pub fn check(&self) -> Result<(), String> {
        if self.stopping.load(Ordering::Acquire) {
            return Err("Shutting down".into());
        }
        let continuously = self.continuously.load(Ordering::Relaxed);
        if !continuously && self.latched.load(Ordering::Acquire) {
            return Ok(());
        }
        let parts = self.parts.lock().unwrap_or_else(|e| e.into_inner());
        let mut not: Vec<&str> = parts
            .iter()
            .filter(|(_, ready)| !ready())
            .map(|(n, _)| n.as_str())
            .collect();
        not.sort_unstable();
        not.dedup();
        if not.is_empty() {
            self.latched.store(true, Ordering::Release);
            Ok(())
        } else {
            Err(not.join(","))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{load_str, Plugin};
    use std::path::Path;

    fn cfg(text: &str) -> Result<ReadyConfig, ConfigError> {
        let c = load_str(text, Path::new("Corefile"), 53)?;
        c.blocks[0]
            .plugins
            .iter()
            .find_map(|p| match p {
                Plugin::Ready(r) => Some(r.clone()),
                _ => None,
            })
            .ok_or_else(|| ConfigError::at_parts(Path::new("Corefile"), 0, None, "no ready"))
    }

    #[test]
    fn parse_table() {
        for (text, want) in [
            (".:53 {\n ready\n}\n", Ok((":8181", false))),
            (
                ".:53 {\n ready 127.0.0.1:8282\n}\n",
                Ok(("127.0.0.1:8282", false)),
            ),
            (
                ".:53 {\n ready {\n  monitor continuously\n }\n}\n",
                Ok((":8181", true)),
            ),
            (
                ".:53 {\n ready 8181\n}\n",
                Err("Corefile:2: ready: address \"8181\": missing port"),
            ),
            (
                ".:53 {\n ready a:1 b:2\n}\n",
                Err("Corefile:2: ready: expects at most one address"),
            ),
            (
                ".:53 {\n ready {\n  monitor sometimes\n }\n}\n",
                Err("Corefile:3: ready: monitor: invalid value"),
            ),
            (
                ".:53 {\n ready {\n  lameduck 5s\n }\n}\n",
                Err("Corefile:3: ready: unknown property \"lameduck\""),
            ),
        ] {
            match (cfg(text), want) {
                (Ok(c), Ok((addr, cont))) => {
                    assert_eq!((c.addr.as_str(), c.continuously), (addr, cont), "{text}")
                }
                (Err(e), Err(w)) => assert!(e.to_string().starts_with(w), "{e} vs {w}"),
                (got, want) => panic!("{text}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn readiness_lists_parts_latches_and_stops() {
        let r = Readiness::default();
        assert_eq!(r.check(), Ok(()), "nothing to wait for");
        let r = Readiness::default();
        let k = r.register("kubernetes");
        let k2 = r.register("kubernetes");
        let other = r.register("etcd");
        assert_eq!(r.check(), Err("etcd,kubernetes".into()));
        k.set(true);
        k2.set(true);
        other.set(true);
        assert_eq!(r.check(), Ok(()));
        k.set(false);
        assert_eq!(r.check(), Ok(()), "until-ready latches");
        r.set_continuously(true);
        assert_eq!(r.check(), Err("kubernetes".into()));
        r.stopping();
        assert_eq!(r.check(), Err("Shutting down".into()));
    }
}
