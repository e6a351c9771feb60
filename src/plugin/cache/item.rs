//! A cached answer and CoreDNS's rules for what is cached, as what, and for how long
//! (`plugin/pkg/response/typify.go`, `plugin/cache/cache.go`, `plugin/pkg/dnsutil/ttl.go`).
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hickory_server::proto::op::ResponseCode;
use hickory_server::proto::rr::{Name, Record, RecordType};

use crate::dns::class::{answers_question, has_soa, Class};
use crate::dns::Answer;

/// Whether CoreDNS would store this answer at all (`key` in cache.go).
pub fn cacheable(a: &Answer, class: Class, qname: &Name, qtype: RecordType) -> bool {
    match class {
        Class::OtherError | Class::Meta => false,
        Class::NameError => has_soa(a),
        Class::NoError => {
            has_soa(a) || a.answers.is_empty() || answers_question(&a.answers, qname, qtype)
        }
        _ => true,
    }
}

/// The lowest TTL of the records, at most `max` (`dnsutil.MinimalTTLWithMaximum`).
pub fn minimal_ttl(a: &Answer, class: Class, max: u32) -> u32 {
    if !matches!(class, Class::NoError | Class::NameError | Class::NoData) {
        return super::config::MIN_TTL;
    }
    if a.answers.is_empty() && a.authority.is_empty() && a.additional.is_empty() {
        return super::config::MIN_TTL;
    }
    a.answers
        .iter()
        .chain(&a.authority)
        .chain(&a.additional)
        .map(|r| r.ttl)
        .fold(max, u32::min)
}

/// A stored answer.
#[derive(Debug)]
pub struct Item {
    /// Lower-case question name, to tell hash collisions apart.
    pub name: String,
    /// Question type, to tell hash collisions apart.
    pub qtype: RecordType,
    /// The stored answer's response code.
    pub rcode: ResponseCode,
    /// The stored answer's AD flag (given back only to clients that set DO or AD).
    pub authentic_data: bool,
    /// The stored answer's RA flag.
    pub recursion_available: bool,
    /// The answer section, TTLs as stored.
    pub answers: Vec<Record>,
    /// The authority section, TTLs as stored.
    pub authority: Vec<Record>,
    /// The additional section, TTLs as stored.
    pub additional: Vec<Record>,
    /// The TTL (seconds) every record got when stored; it counts down from [`Item::stored`].
    pub orig_ttl: u32,
    /// When the answer was stored.
    pub stored: Instant,
    /// Prefetch popularity (`freq.Freq`): hits with no gap longer than the prefetch duration.
    hits: AtomicU32,
    last_hit_ms: AtomicU64,
    refreshing: AtomicBool,
    retry_after_ms: AtomicU64,
}

impl Item {
    /// An item for the question (`lower`, `qtype`) holding `a`'s flags and records, with
    /// `ttl` seconds to live from now.
    pub fn new(lower: &str, qtype: RecordType, a: &Answer, ttl: u32) -> Self {
        Self {
            name: lower.to_string(),
            qtype,
            rcode: a.rcode,
            authentic_data: a.authentic_data,
            recursion_available: a.recursion_available,
            answers: a.answers.clone(),
            authority: a.authority.clone(),
            additional: a.additional.clone(),
            orig_ttl: ttl,
            stored: Instant::now(),
            hits: AtomicU32::new(0),
            last_hit_ms: AtomicU64::new(0),
            refreshing: AtomicBool::new(false),
            retry_after_ms: AtomicU64::new(0),
        }
    }

    /// Is this the entry for that question (not another one with the same hash key)?
    pub fn matches(&self, lower: &str, qtype: RecordType) -> bool {
        self.qtype == qtype && self.name == lower
    }

    /// Seconds left (negative once expired), as CoreDNS: whole seconds elapsed are subtracted.
    pub fn ttl(&self, now: Instant) -> i64 {
        i64::from(self.orig_ttl) - now.saturating_duration_since(self.stored).as_secs() as i64
    }

    fn ms(&self, now: Instant) -> u64 {
        // +1 so that 0 means "never".
        now.saturating_duration_since(self.stored).as_millis() as u64 + 1
    }

    /// Counts a hit; returns the hits in the current run (a gap over `gap` restarts it).
    pub fn hit(&self, gap: Duration, now: Instant) -> u32 {
        let now_ms = self.ms(now);
        let last = self.last_hit_ms.swap(now_ms, Ordering::AcqRel);
        if last == 0 || now_ms.saturating_sub(last) > gap.as_millis() as u64 {
            self.hits.store(1, Ordering::Release);
            1
        } else {
            self.hits.fetch_add(1, Ordering::AcqRel) + 1
        }
    }

    /// The hits in the current run (see [`Item::hit`]), for the `prefetch` AMOUNT threshold.
    pub fn hits(&self) -> u32 {
        self.hits.load(Ordering::Acquire)
    }

    /// Carries popularity over to the item that replaced this one.
    pub fn inherit(&self, old: &Item, now: Instant) {
        self.hits.store(old.hits(), Ordering::Release);
        self.last_hit_ms.store(self.ms(now), Ordering::Release);
    }

    /// At most one refresh at a time, and none during `recheck` after a failed one.
    pub fn begin_refresh(&self, now: Instant) -> bool {
        let after = self.retry_after_ms.load(Ordering::Acquire);
        if after != 0 && self.ms(now) < after {
            return false;
        }
        !self.refreshing.swap(true, Ordering::AcqRel)
    }

    /// Ends the refresh [`Item::begin_refresh`] allowed; a failed one (`refreshed` false)
    /// blocks the next for `recheck` (`serve_stale … verify` failure recheck).
    pub fn end_refresh(&self, now: Instant, recheck: Duration, refreshed: bool) {
        let after = if !refreshed && !recheck.is_zero() {
            self.ms(now) + recheck.as_millis() as u64
        } else {
            0
        };
        self.retry_after_ms.store(after, Ordering::Release);
        self.refreshing.store(false, Ordering::Release);
    }

    /// The answer this item gives with `ttl` on every record (CoreDNS sets AA on cached
    /// answers: some stub resolvers drop non-authoritative ones).
    pub fn to_answer(&self, ttl: u32, do_or_ad: bool) -> Answer {
        let with_ttl = |rs: &[Record]| {
            rs.iter()
                .map(|r| {
                    let mut r = r.clone();
                    r.ttl = ttl;
                    r
                })
                .collect()
        };
        Answer {
            rcode: self.rcode,
            authoritative: true,
            recursion_available: self.recursion_available,
            authentic_data: self.authentic_data && do_or_ad,
            answers: with_ttl(&self.answers),
            authority: with_ttl(&self.authority),
            additional: with_ttl(&self.additional),
            plugin: "cache",
            ..Answer::code(self.rcode)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::class::classify;
    use hickory_server::proto::rr::rdata::{A, CNAME, NS, SOA};
    use hickory_server::proto::rr::RData;

    fn n(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }
    fn a(owner: &str, ttl: u32) -> Record {
        Record::from_rdata(n(owner), ttl, RData::A(A::new(192, 0, 2, 1)))
    }
    fn cname(owner: &str, to: &str) -> Record {
        Record::from_rdata(n(owner), 60, RData::CNAME(CNAME(n(to))))
    }
    fn soa(ttl: u32) -> Record {
        Record::from_rdata(
            n("example."),
            ttl,
            RData::SOA(SOA::new(n("ns.example."), n("h.example."), 1, 2, 3, 4, 5)),
        )
    }
    fn ans(rc: ResponseCode, answers: Vec<Record>, authority: Vec<Record>) -> Answer {
        let mut x = Answer::code(rc);
        x.answers = answers;
        x.authority = authority;
        x
    }

    #[test]
    fn classes_and_cacheability() {
        let q = n("www.example.");
        let t = RecordType::A;
        for (answer, class, cache) in [
            (
                ans(ResponseCode::NoError, vec![a("www.example.", 60)], vec![]),
                Class::NoError,
                true,
            ),
            (
                ans(
                    ResponseCode::NoError,
                    vec![cname("www.example.", "x.example."), a("x.example.", 60)],
                    vec![],
                ),
                Class::NoError,
                true,
            ),
            // A chain that ends without an A and without SOA: an incomplete answer, not cached.
            (
                ans(
                    ResponseCode::NoError,
                    vec![cname("www.example.", "x.example.")],
                    vec![],
                ),
                Class::NoError,
                false,
            ),
            // …with the SOA it is NODATA.
            (
                ans(
                    ResponseCode::NoError,
                    vec![cname("www.example.", "x.example.")],
                    vec![soa(60)],
                ),
                Class::NoData,
                true,
            ),
            (
                ans(ResponseCode::NoError, vec![], vec![soa(60)]),
                Class::NoData,
                true,
            ),
            (
                ans(ResponseCode::NXDomain, vec![], vec![soa(60)]),
                Class::NameError,
                true,
            ),
            (
                ans(ResponseCode::NXDomain, vec![], vec![]),
                Class::NameError,
                false,
            ),
            (
                ans(ResponseCode::NXDomain, vec![a("www.example.", 5)], vec![]),
                Class::OtherError,
                false,
            ),
            (
                ans(ResponseCode::ServFail, vec![], vec![]),
                Class::ServerError,
                true,
            ),
            (
                ans(ResponseCode::NotImp, vec![], vec![]),
                Class::ServerError,
                true,
            ),
            (
                ans(ResponseCode::Refused, vec![], vec![]),
                Class::OtherError,
                false,
            ),
            (
                ans(
                    ResponseCode::NoError,
                    vec![],
                    vec![Record::from_rdata(
                        n("example."),
                        60,
                        RData::NS(NS(n("ns.example."))),
                    )],
                ),
                Class::Delegation,
                true,
            ),
        ] {
            let c = classify(&answer, &q, t);
            assert_eq!(c, class, "{answer:?}");
            assert_eq!(cacheable(&answer, c, &q, t), cache, "{answer:?}");
        }
        assert!(
            !answers_question(&[cname("a.", "b."), cname("b.", "a.")], &n("a."), t),
            "loop"
        );
        assert!(
            !answers_question(
                &[cname("a.", "b."), cname("a.", "c."), a("b.", 1)],
                &n("a."),
                t
            ),
            "two targets"
        );
        assert!(answers_question(
            &[cname("A.", "b.")],
            &n("a."),
            RecordType::CNAME
        ));
    }

    #[test]
    fn minimal_ttl_caps_and_floors() {
        let x = ans(
            ResponseCode::NoError,
            vec![a("www.example.", 300), a("www.example.", 40)],
            vec![],
        );
        assert_eq!(minimal_ttl(&x, Class::NoError, 3600), 40);
        assert_eq!(minimal_ttl(&x, Class::NoError, 30), 30);
        assert_eq!(minimal_ttl(&x, Class::ServerError, 30), 5);
        assert_eq!(
            minimal_ttl(
                &ans(ResponseCode::NoError, vec![], vec![]),
                Class::NoError,
                30
            ),
            5
        );
    }

    #[test]
    fn popularity_and_refresh_gate() {
        let i = Item::new(
            "a.",
            RecordType::A,
            &Answer::code(ResponseCode::NoError),
            30,
        );
        let t0 = i.stored;
        assert_eq!(
            i.hit(Duration::from_secs(1), t0 + Duration::from_millis(10)),
            1
        );
        assert_eq!(
            i.hit(Duration::from_secs(1), t0 + Duration::from_millis(500)),
            2
        );
        assert_eq!(
            i.hit(Duration::from_secs(1), t0 + Duration::from_millis(2000)),
            1,
            "gap restarts"
        );
        assert!(i.begin_refresh(t0));
        assert!(!i.begin_refresh(t0), "one at a time");
        i.end_refresh(t0, Duration::from_secs(10), false);
        assert!(
            !i.begin_refresh(t0 + Duration::from_secs(1)),
            "failure recheck"
        );
        assert!(i.begin_refresh(t0 + Duration::from_secs(11)));
        assert_eq!(i.ttl(t0 + Duration::from_millis(1999)), 29);
        assert_eq!(i.ttl(t0 + Duration::from_secs(31)), -1);
    }
}
