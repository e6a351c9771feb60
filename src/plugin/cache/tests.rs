//! `cache`: lookups, stores, TTLs, prefetch and serve_stale, on answers made by hand.
use super::*;
use crate::config::directives::Plugin;
use crate::config::testing::first_directive;
use hickory_server::proto::rr::rdata::{A, SOA};
use hickory_server::proto::rr::{Name, RData, Record, RecordType};

fn cache(text: &str) -> Arc<Cache> {
    let c = first_directive(text, |p| match p {
        Plugin::Cache(c) => Some((**c).clone()),
        _ => None,
    });
    Cache::new(&c.unwrap(), "dns://:53")
}

fn q(name: &str) -> Query {
    Query::internal(Name::from_ascii(name).unwrap(), RecordType::A)
}

fn positive(name: &str, ttl: u32) -> Answer {
    let mut a = Answer::code(ResponseCode::NoError);
    a.answers.push(Record::from_rdata(
        Name::from_ascii(name).unwrap(),
        ttl,
        RData::A(A::new(192, 0, 2, 1)),
    ));
    a.answers.push(Record::from_rdata(
        Name::from_ascii(name).unwrap(),
        ttl + 100,
        RData::A(A::new(192, 0, 2, 2)),
    ));
    a
}

fn nxdomain(soa_ttl: u32) -> Answer {
    let mut a = Answer::code(ResponseCode::NXDomain);
    let n = |s: &str| Name::from_ascii(s).unwrap();
    a.authority.push(Record::from_rdata(
        n("example."),
        soa_ttl,
        RData::SOA(SOA::new(n("ns.example."), n("h.example."), 1, 2, 3, 4, 60)),
    ));
    a
}

fn hit(c: &Cache, query: &Query) -> Option<Answer> {
    match c.lookup(query) {
        Lookup::Hit { answer, .. } => Some(answer),
        _ => None,
    }
}

#[test]
fn stores_with_capped_uniform_ttl_and_hits() {
    let c = cache(".:53 {\n cache 30\n}\n");
    let query = q("www.example.");
    let Lookup::Miss { key } = c.lookup(&query) else {
        panic!("miss expected")
    };
    let mut a = positive("www.example.", 300);
    c.store(&query, key, &mut a, false);
    assert!(
        a.answers.iter().all(|r| r.ttl == 30),
        "capped and uniform: {a:?}"
    );
    let h = hit(&c, &query).expect("hit");
    assert_eq!(h.answers.len(), 2);
    assert!(h.authoritative, "cached answers carry AA");
    assert!(h.answers.iter().all(|r| r.ttl == 30));
    assert_eq!(h.plugin, "cache");
    // Case-insensitive: the same entry.
    assert!(hit(&c, &q("WWW.Example.")).is_some());
    // DO bit: a different entry.
    let mut d = query.clone();
    d.dnssec_ok = true;
    assert!(matches!(c.lookup(&d), Lookup::Miss { .. }));
    // Another type: a different entry.
    let mut t = query.clone();
    t.qtype = RecordType::AAAA;
    assert!(matches!(c.lookup(&t), Lookup::Miss { .. }));
    assert_eq!(c.len(), (1, 0));
}

#[test]
fn minimum_ttl_and_denial() {
    let c = cache(".:53 {\n cache\n}\n");
    let query = q("a.example.");
    let Lookup::Miss { key } = c.lookup(&query) else {
        panic!()
    };
    let mut a = positive("a.example.", 1);
    c.store(&query, key, &mut a, false);
    assert_eq!(a.answers[0].ttl, 5, "raised to the 5 s minimum");
    let nq = q("nope.example.");
    let Lookup::Miss { key } = c.lookup(&nq) else {
        panic!()
    };
    let mut n = nxdomain(120);
    c.store(&nq, key, &mut n, false);
    let h = hit(&c, &nq).expect("denial hit");
    assert_eq!(h.rcode, ResponseCode::NXDomain);
    assert_eq!(h.authority[0].ttl, 120);
    assert_eq!(c.len(), (1, 1));
}

#[test]
fn disable_keeps_zones_out_but_caps_ttl() {
    let c = cache(".:53 {\n cache 30 {\n  disable success cluster.local\n  disable denial cluster.local\n }\n}\n");
    for name in ["web.shop.svc.cluster.local.", "nope.cluster.local."] {
        let query = q(name);
        let Lookup::Miss { key } = c.lookup(&query) else {
            panic!()
        };
        let mut a = if name.starts_with("web") {
            positive(name, 3600)
        } else {
            nxdomain(3600)
        };
        c.store(&query, key, &mut a, false);
        assert!(a.records_mut().all(|r| r.ttl == 30));
        assert!(
            matches!(c.lookup(&query), Lookup::Miss { .. }),
            "{name} must not be cached"
        );
    }
    let query = q("www.example.");
    let Lookup::Miss { key } = c.lookup(&query) else {
        panic!()
    };
    c.store(&query, key, &mut positive("www.example.", 60), false);
    assert!(hit(&c, &query).is_some(), "other zones are cached");
}

#[test]
fn zones_limit_what_is_cached_and_refused_is_not() {
    let c = cache(".:53 {\n cache example.org\n}\n");
    assert!(matches!(c.lookup(&q("www.example.com.")), Lookup::Pass));
    let query = q("www.example.org.");
    let Lookup::Miss { key } = c.lookup(&query) else {
        panic!()
    };
    c.store(&query, key, &mut Answer::code(ResponseCode::Refused), false);
    assert!(matches!(c.lookup(&query), Lookup::Miss { .. }));
}

#[test]
fn servfail_cached_briefly_but_never_hides_a_good_answer() {
    let c = cache(".:53 {\n cache\n}\n");
    let query = q("flaky.example.");
    let Lookup::Miss { key } = c.lookup(&query) else {
        panic!()
    };
    c.store(&query, key, &mut positive("flaky.example.", 60), false);
    c.store(
        &query,
        key,
        &mut Answer::code(ResponseCode::ServFail),
        false,
    );
    assert_eq!(hit(&c, &query).unwrap().rcode, ResponseCode::NoError);
}

#[test]
fn prefetch_after_popular_and_near_expiry() {
    let c = cache(".:53 {\n cache {\n  prefetch 2 1m 90%\n }\n}\n");
    let query = q("pop.example.");
    let Lookup::Miss { key } = c.lookup(&query) else {
        panic!()
    };
    c.store(&query, key, &mut positive("pop.example.", 10), false);
    // First hit: popularity 1. Second: 2 ≥ amount, TTL 10 ≤ ceil(0.9 × 10) = 9? Not yet.
    let Lookup::Hit { refresh: r1, .. } = c.lookup(&query) else {
        panic!()
    };
    assert!(r1.is_none());
    std::thread::sleep(Duration::from_millis(1100));
    let Lookup::Hit { refresh: r2, .. } = c.lookup(&query) else {
        panic!()
    };
    let item = r2.expect("popular and at 90%: prefetch");
    let Lookup::Hit { refresh: r3, .. } = c.lookup(&query) else {
        panic!()
    };
    assert!(r3.is_none(), "one refresh at a time");
    c.store(&query, key, &mut positive("pop.example.", 10), true);
    c.refreshed(key, &item, false, true);
    assert_eq!(c.m.prefetches.get(), 1);
}
