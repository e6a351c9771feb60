//! Parsing `cache [TTL] [ZONES…] { … }` with CoreDNS's options and defaults.
use std::time::Duration;

use crate::config::args;
use crate::config::syntax::{normalize_zone, ConfigError, Line, Token};

const D: &str = "cache";
// CoreDNS's defaults (`plugin/pkg/dnsutil`, `plugin/cache`).
/// The success cache's TTL cap (CoreDNS's `maxTTL`).
pub const MAX_TTL: u32 = 3600;
/// The denial cache's TTL cap (CoreDNS's `maxNTTL`).
pub const MAX_NTTL: u32 = 1800;
/// CoreDNS's `minTTL` (`dnsutil.MinimalDefaultTTL`): both caches' default minimum TTL and the
/// default `servfail` TTL.
pub const MIN_TTL: u32 = 5;
/// Entries per cache (success or denial) unless `success`/`denial` say otherwise.
pub const DEFAULT_CAP: usize = 10_000;

/// Limits of the success or the denial cache.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Most entries kept.
    pub capacity: usize,
    /// TTLs are capped at this many seconds.
    pub max_ttl: u32,
    /// TTLs are raised to at least this many seconds.
    pub min_ttl: u32,
}

/// `prefetch AMOUNT [DURATION [PERCENTAGE%]]`: refresh popular entries before they expire.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prefetch {
    /// Hits needed (with no gap of `duration` or more between them).
    pub amount: u32,
    /// The longest gap between hits that still counts them as popular.
    pub duration: Duration,
    /// Refresh when the TTL left is at most this share of the original TTL.
    pub percentage: u32,
}

/// `serve_stale [DURATION] [immediate|verify …]`: answer from expired entries.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ServeStale {
    /// How long after expiry an entry may still be served.
    pub up_to: Duration,
    /// `verify`: ask first, serve stale only if that fails; `immediate`: serve stale, then refresh.
    pub verify: bool,
    /// With `verify`: how long to wait for the fresh answer before serving the stale one.
    pub verify_timeout: Duration,
    /// The TTL stale answers carry.
    pub response_ttl: u32,
    /// After a failed refresh, do not try again for this long.
    pub failure_recheck: Duration,
}

/// One parsed `cache` directive.
#[derive(Debug, Clone, PartialEq)]
pub struct CacheConfig {
    /// The zones cached (default: the server block's).
    pub zones: Vec<String>,
    /// Limits of the cache of positive answers.
    pub success: Limits,
    /// Limits of the cache of NXDOMAIN and NODATA answers.
    pub denial: Limits,
    /// `prefetch`, when on.
    pub prefetch: Option<Prefetch>,
    /// `serve_stale`, when on.
    pub serve_stale: Option<ServeStale>,
    /// `servfail`: how long SERVFAIL answers are cached.
    pub servfail_ttl: Duration,
    /// `disable success ZONES`: zones whose positive answers are not cached.
    pub disable_success: Vec<String>,
    /// `disable denial ZONES`: zones whose denials are not cached.
    pub disable_denial: Vec<String>,
    /// `keepttl`: answers from the cache carry their original TTL, not the time left.
    pub keepttl: bool,
}

fn ttl(t: &Token, min: u32) -> Result<u32, ConfigError> {
    match t.text.parse::<i64>() {
        Ok(v) if v >= i64::from(min) && v <= i64::from(u32::MAX) => Ok(v as u32),
        Ok(v) if min > 0 => Err(ConfigError::at(
            t,
            Some(D),
            format!("cache TTL can not be zero or negative: {v}"),
        )),
        Ok(v) => Err(ConfigError::at(
            t,
            Some(D),
            format!("cache min TTL can not be negative: {v}"),
        )),
        Err(_) => Err(ConfigError::at(
            t,
            Some(D),
            format!("{:?} is not a number of seconds", t.text),
        )),
    }
}

fn limits(o: &Line, l: &mut Limits) -> Result<(), ConfigError> {
    let a = o.args();
    let Some(cap) = a.first() else {
        return Err(ConfigError::at(
            o.name(),
            Some(D),
            format!("{} expects CAPACITY [TTL] [MINTTL]", o.name().text),
        ));
    };
    if a.len() > 3 {
        return Err(ConfigError::at(
            &a[3],
            Some(D),
            format!("{} expects CAPACITY [TTL] [MINTTL]", o.name().text),
        ));
    }
    l.capacity = args::number(cap, D, "capacity", 0..=100_000_000)?;
    if let Some(t) = a.get(1) {
        l.max_ttl = ttl(t, 1)?;
    }
    if let Some(t) = a.get(2) {
        l.min_ttl = ttl(t, 0)?;
    }
    Ok(())
}

fn zone_list(ts: &[Token]) -> Result<Vec<String>, ConfigError> {
    ts.iter()
        .map(|t| normalize_zone(&t.text).map_err(|m| ConfigError::at(t, Some(D), m)))
        .collect()
}

fn whole_seconds(t: &Token, what: &str) -> Result<u32, ConfigError> {
    let d = args::duration(t, D)?;
    if d.subsec_nanos() != 0 {
        return Err(ConfigError::at(
            t,
            Some(D),
            format!("serve_stale {what} must be a whole number of seconds"),
        ));
    }
    u32::try_from(d.as_secs()).map_err(|_| {
        ConfigError::at(
            t,
            Some(D),
            format!("serve_stale {what} exceeds the DNS TTL range"),
        )
    })
}

fn serve_stale(o: &Line) -> Result<ServeStale, ConfigError> {
    let a = o.args();
    if a.len() > 5 {
        return Err(ConfigError::at(&a[5], Some(D), "serve_stale expects [DURATION] [immediate [RESPONSE_TTL [FAILURE_RECHECK]] | verify [VERIFY_TIMEOUT [RESPONSE_TTL [FAILURE_RECHECK]]]]"));
    }
    let mut s = ServeStale {
        up_to: Duration::from_secs(3600),
        verify: false,
        verify_timeout: Duration::ZERO,
        response_ttl: 0,
        failure_recheck: Duration::ZERO,
    };
    if let Some(t) = a.first() {
        s.up_to = args::duration(t, D)?;
    }
    let mut rest = a.get(2..).unwrap_or_default();
    if let Some(m) = a.get(1) {
        s.verify = match m.text.to_ascii_lowercase().as_str() {
            "immediate" => false,
            "verify" => true,
            other => {
                return Err(ConfigError::at(
                    m,
                    Some(D),
                    format!("invalid value for serve_stale refresh mode: {other}"),
                ))
            }
        };
    }
    if s.verify {
        if let Some(t) = rest.first() {
            s.verify_timeout = args::duration(t, D)?;
            rest = &rest[1..];
        }
    } else if rest.len() > 2 {
        return Err(ConfigError::at(
            &rest[2],
            Some(D),
            "serve_stale immediate takes at most RESPONSE_TTL and FAILURE_RECHECK",
        ));
    }
    if let Some(t) = rest.first() {
        s.response_ttl = whole_seconds(t, "response TTL")?;
    }
    if let Some(t) = rest.get(1) {
        s.failure_recheck = args::duration(t, D)?;
        if s.failure_recheck > Duration::from_secs(300) {
            return Err(ConfigError::at(
                t,
                Some(D),
                "serve_stale failure recheck cannot exceed 5 minutes",
            ));
        }
    }
    Ok(s)
}

/// Parses one `cache` line (and its block) in a server block serving `block_zones`.
pub fn parse(line: &Line, block_zones: &[String]) -> Result<CacheConfig, ConfigError> {
    let mut c = directive_args(line.args(), block_zones)?;
    for o in args::block(line) {
        args::no_block(o, D)?;
        option(o, &mut c)?;
    }
    Ok(c)
}

/// `cache [TTL] [ZONES…]`: CoreDNS's defaults, the TTL caps and the zones.
fn directive_args(mut a: &[Token], block_zones: &[String]) -> Result<CacheConfig, ConfigError> {
    let mut success = Limits {
        capacity: DEFAULT_CAP,
        max_ttl: MAX_TTL,
        min_ttl: MIN_TTL,
    };
    let mut denial = Limits {
        capacity: DEFAULT_CAP,
        max_ttl: MAX_NTTL,
        min_ttl: MIN_TTL,
    };
    // A first argument that is a number is the TTL; anything else is a zone.
    if let Some(first) = a.first() {
        if first.text.parse::<i64>().is_ok() {
            let t = ttl(first, 1)?;
            success.max_ttl = t;
            denial.max_ttl = t;
            a = &a[1..];
        }
    }
    let zones = if a.is_empty() {
        block_zones.to_vec()
    } else {
        zone_list(a)?
    };
    Ok(CacheConfig {
        zones,
        success,
        denial,
        prefetch: None,
        serve_stale: None,
        servfail_ttl: Duration::from_secs(u64::from(MIN_TTL)),
        disable_success: Vec::new(),
        disable_denial: Vec::new(),
        keepttl: false,
    })
}

/// One option line of the block.
fn option(o: &Line, c: &mut CacheConfig) -> Result<(), ConfigError> {
    match o.name().text.as_str() {
        "success" => limits(o, &mut c.success)?,
        "denial" => limits(o, &mut c.denial)?,
        "prefetch" => c.prefetch = prefetch(o)?,
        "serve_stale" => c.serve_stale = Some(serve_stale(o)?),
        "servfail" => c.servfail_ttl = servfail(o)?,
        "disable" => disable(o, c)?,
        "keepttl" => {
            args::no_args(o, D)?;
            c.keepttl = true;
        }
        "serve_stale_policy" => {
            return Err(ConfigError::at(
                o.name(),
                Some(D),
                "serve_stale_policy is not supported by kdns",
            ))
        }
        _ => return Err(args::unknown(o, D)),
    }
    Ok(())
}

/// `prefetch AMOUNT [DURATION [PERCENTAGE%]]`; an AMOUNT of 0 turns prefetching off.
fn prefetch(o: &Line) -> Result<Option<Prefetch>, ConfigError> {
    let oa = o.args();
    if oa.is_empty() || oa.len() > 3 {
        return Err(ConfigError::at(
            o.name(),
            Some(D),
            "prefetch expects AMOUNT [DURATION [PERCENTAGE%]]",
        ));
    }
    let mut p = Prefetch {
        amount: args::number(&oa[0], D, "prefetch amount", 0..=u32::MAX)?,
        duration: Duration::from_secs(60),
        percentage: 10,
    };
    if let Some(t) = oa.get(1) {
        p.duration = args::duration(t, D)?;
    }
    if let Some(t) = oa.get(2) {
        p.percentage = percentage(t)?;
    }
    Ok((p.amount > 0).then_some(p))
}

/// `PERCENTAGE%`, from 10 to 90.
fn percentage(t: &Token) -> Result<u32, ConfigError> {
    let Some(num) = t.text.strip_suffix('%') else {
        return Err(ConfigError::at(
            t,
            Some(D),
            format!(
                "last character of percentage should be `%`, but is: {:?}",
                t.text.chars().last().unwrap_or(' ')
            ),
        ));
    };
    match num.parse::<u32>() {
        Ok(n) if (10..=90).contains(&n) => Ok(n),
        _ => Err(ConfigError::at(
            t,
            Some(D),
            format!("percentage should fall in range [10, 90]: {num}"),
        )),
    }
}

/// `servfail DURATION`, at most 5 minutes.
fn servfail(o: &Line) -> Result<Duration, ConfigError> {
    let d = args::duration(args::one(o, D, "a duration")?, D)?;
    if d > Duration::from_secs(300) {
        return Err(ConfigError::at(
            o.name(),
            Some(D),
            "caching SERVFAIL responses over 5 minutes is not permitted",
        ));
    }
    Ok(d)
}

/// `disable success|denial [ZONES…]` (no zones: the root, `.`).
fn disable(o: &Line, c: &mut CacheConfig) -> Result<(), ConfigError> {
    let [kind, zs @ ..] = o.args() else {
        return Err(ConfigError::at(
            o.name(),
            Some(D),
            "disable expects success|denial [ZONES...]",
        ));
    };
    let zs = if zs.is_empty() {
        vec![".".to_string()]
    } else {
        zone_list(zs)?
    };
    match kind.text.as_str() {
        "success" => c.disable_success = zs,
        "denial" => c.disable_denial = zs,
        other => {
            return Err(ConfigError::at(
                kind,
                Some(D),
                format!("cache type for disable must be \"success\" or \"denial\", got {other:?}"),
            ))
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::directives::Plugin;
    use crate::config::testing::first_directive;

    fn cache(text: &str) -> Result<CacheConfig, ConfigError> {
        first_directive(text, |p| match p {
            Plugin::Cache(c) => Some((**c).clone()),
            _ => None,
        })
    }

    #[test]
    fn kubeadm_block() {
        let c = cache(".:53 {\n cache 30 {\n  disable success cluster.local\n  disable denial cluster.local\n }\n}\n").unwrap();
        assert_eq!(c.zones, vec!["."]);
        assert_eq!((c.success.max_ttl, c.denial.max_ttl), (30, 30));
        assert_eq!(
            (c.success.min_ttl, c.success.capacity),
            (MIN_TTL, DEFAULT_CAP)
        );
        assert_eq!(c.disable_success, vec!["cluster.local."]);
        assert_eq!(c.disable_denial, vec!["cluster.local."]);
    }

    #[test]
    fn defaults_zones_and_options() {
        let c = cache("example.org:53 {\n cache\n}\n").unwrap();
        assert_eq!(c.zones, vec!["example.org."]);
        assert_eq!((c.success.max_ttl, c.denial.max_ttl), (3600, 1800));
        assert_eq!(c.servfail_ttl, Duration::from_secs(5));
        assert!(c.prefetch.is_none() && c.serve_stale.is_none());
        let c = cache(".:53 {\n cache 300 example.org Example.NET {\n  success 5000 600 10\n  denial 2500 60\n  prefetch 3 30s 20%\n  serve_stale 2h verify 100ms 30s 30s\n  servfail 0s\n  disable denial\n  keepttl\n }\n}\n").unwrap();
        assert_eq!(c.zones, vec!["example.org.", "example.net."]);
        assert_eq!(
            c.success,
            Limits {
                capacity: 5000,
                max_ttl: 600,
                min_ttl: 10
            }
        );
        assert_eq!(
            c.denial,
            Limits {
                capacity: 2500,
                max_ttl: 60,
                min_ttl: 5
            }
        );
        assert_eq!(
            c.prefetch,
            Some(Prefetch {
                amount: 3,
                duration: Duration::from_secs(30),
                percentage: 20
            })
        );
        assert_eq!(
            c.serve_stale,
            Some(ServeStale {
                up_to: Duration::from_secs(7200),
                verify: true,
                verify_timeout: Duration::from_millis(100),
                response_ttl: 30,
                failure_recheck: Duration::from_secs(30)
            })
        );
        assert_eq!(c.servfail_ttl, Duration::ZERO);
        assert_eq!(c.disable_denial, vec!["."]);
        assert!(c.keepttl);
        let s = cache(".:53 {\n cache {\n  serve_stale\n }\n}\n")
            .unwrap()
            .serve_stale
            .unwrap();
        assert_eq!(
            (s.up_to, s.verify, s.response_ttl),
            (Duration::from_secs(3600), false, 0)
        );
        let s = cache(".:53 {\n cache {\n  serve_stale 1h immediate 30s\n }\n}\n")
            .unwrap()
            .serve_stale
            .unwrap();
        assert_eq!((s.verify, s.response_ttl), (false, 30));
    }

    #[test]
    fn errors_name_the_line() {
        for (text, want) in [
            (
                ".:53 {\n cache 0\n}\n",
                "Corefile:2: cache: cache TTL can not be zero or negative: 0",
            ),
            (
                ".:53 {\n cache -5\n}\n",
                "Corefile:2: cache: cache TTL can not be zero or negative: -5",
            ),
            (
                ".:53 {\n cache {\n  success\n }\n}\n",
                "Corefile:3: cache: success expects CAPACITY",
            ),
            (
                ".:53 {\n cache {\n  success lots\n }\n}\n",
                "Corefile:3: cache: capacity must be a whole number",
            ),
            (
                ".:53 {\n cache {\n  denial 10 0\n }\n}\n",
                "Corefile:3: cache: cache TTL can not be zero",
            ),
            (
                ".:53 {\n cache {\n  prefetch 2 1m 5%\n }\n}\n",
                "Corefile:3: cache: percentage should fall in range [10, 90]: 5",
            ),
            (
                ".:53 {\n cache {\n  prefetch 2 1m 50\n }\n}\n",
                "Corefile:3: cache: last character of percentage should be `%`",
            ),
            (
                ".:53 {\n cache {\n  serve_stale 1h later\n }\n}\n",
                "Corefile:3: cache: invalid value for serve_stale refresh mode: later",
            ),
            (
                ".:53 {\n cache {\n  serve_stale 1h immediate 1500ms\n }\n}\n",
                "Corefile:3: cache: serve_stale response TTL must be a whole number",
            ),
            (
                ".:53 {\n cache {\n  servfail 10m\n }\n}\n",
                "Corefile:3: cache: caching SERVFAIL responses over 5 minutes",
            ),
            (
                ".:53 {\n cache {\n  disable everything\n }\n}\n",
                "Corefile:3: cache: cache type for disable must be",
            ),
            (
                ".:53 {\n cache {\n  keepttl 5\n }\n}\n",
                "Corefile:3: cache: keepttl takes no arguments",
            ),
            (
                ".:53 {\n cache {\n  size 5\n }\n}\n",
                "Corefile:3: cache: unknown property \"size\"",
            ),
            (
                ".:53 {\n cache\n cache\n}\n",
                "Corefile:3: cache: this directive can only be used once",
            ),
        ] {
            let e = cache(text).unwrap_err().to_string();
            assert!(e.starts_with(want), "{e}\n  does not start with {want}");
        }
    }
}
