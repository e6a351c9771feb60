//! `ready [ADDRESS] { monitor until-ready|continuously }`: `/ready` on `:8181` answers 200 `OK`
//! once every part that reports readiness is ready, else 503 with the names of the parts that
//! are not (comma-separated), and 503 `Shutting down` from the moment kdns starts to stop.
//!
//! The latch itself is [`crate::http::readiness::Readiness`]; this file parses the directive.
use crate::config::args;
use crate::config::syntax::{ConfigError, Line};

const D: &str = "ready";
/// `/ready`'s address when none is given.
pub const DEFAULT_ADDR: &str = ":8181";

/// A parsed `ready` directive.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadyConfig {
    /// `HOST:PORT` of `/ready`.
    pub addr: String,
    /// `monitor continuously`: readiness is checked on every request, never latched.
    pub continuously: bool,
}

/// Parses one `ready` line.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::directives::Plugin;
    use crate::config::testing::first_directive;
    use crate::http::readiness::Readiness;

    fn cfg(text: &str) -> Result<ReadyConfig, ConfigError> {
        first_directive(text, |p| match p {
            Plugin::Ready(x) => Some(x.clone()),
            _ => None,
        })
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
