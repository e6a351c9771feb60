//! Table tests: parsing (CoreDNS's wording), the rewritten question, the answer mapped back.
use std::path::Path;
use std::sync::{Arc, Mutex};

use hickory_server::proto::rr::rdata::{A, CNAME, SRV};
use hickory_server::proto::rr::{DNSClass, RecordType};

use super::*;
use crate::config::{load_str, Plugin};
use crate::dns::{Block, Router};

fn rules(text: &str) -> Result<Vec<Rule>, String> {
    let c = load_str(text, Path::new("Corefile"), 53).map_err(|e| e.to_string())?;
    Ok(c.blocks[0]
        .plugins
        .iter()
        .find_map(|p| match p {
            Plugin::Rewrite(r) => Some(r.rules.clone()),
            _ => None,
        })
        .unwrap_or_default())
}

fn block(lines: &str) -> String {
    format!(".:53 {{\n{lines}\n forward . 127.0.0.1\n}}\n")
}

#[test]
fn parse_errors_keep_coredns_wording() {
    let table = [
        (" rewrite", "Corefile:2: rewrite: no rule type specified for rewrite"),
        (" rewrite stop", "Corefile:2: rewrite: stop rule must begin with a rule type"),
        (" rewrite continue", "Corefile:2: rewrite: continue rule must begin with a rule type"),
        (" rewrite foo a b", "Corefile:2: rewrite: invalid rule type \"foo\""),
        (" rewrite answer name a b", "Corefile:2: rewrite: response rewrites must begin with a name rule"),
        (" rewrite name a", "Corefile:2: rewrite: too few arguments for a name rule"),
        (" rewrite name bogus a b", "Corefile:2: rewrite: name rule supports only exact, prefix, suffix, substring, and regex name matching, received: bogus"),
        (" rewrite name regex (a b", "Corefile:2: rewrite: invalid regex matching pattern: (a"),
        (" rewrite name regex (a) {1}.{2}", "Corefile:2: rewrite: the rewrite regex pattern ({1}.{2}) uses more subexpressions than its corresponding matching regex pattern ((a))"),
        (" rewrite name regex a b answer", "Corefile:2: rewrite: invalid arguments for regex rule"),
        (" rewrite name regex a b c d", "Corefile:2: rewrite: exceeded the number of arguments for a non-answer rule argument for regex rule"),
        (" rewrite name regex a b answer name x", "Corefile:2: rewrite: name answer rule for regex rule: 2 arguments required"),
        (" rewrite name regex a b answer foo", "Corefile:2: rewrite: invalid type \"foo\" for answer rule for regex rule"),
        (" rewrite name regex a b answer auto answer name a b", "Corefile:2: rewrite: auto name answer rule cannot be combined with explicit name anwer rules"),
        (" rewrite name regex a b answer value (x {1}", "Corefile:2: rewrite: value answer rule for regex rule: invalid regex matching pattern: (x"),
        (" rewrite type A", "Corefile:2: rewrite: type rules must have exactly two arguments"),
        (" rewrite type A BOGUS", "Corefile:2: rewrite: invalid type \"BOGUS\""),
        (" rewrite class in xx", "Corefile:2: rewrite: invalid class \"XX\""),
        (" rewrite class IN", "Corefile:2: rewrite: class rules must have exactly two arguments"),
        (" rewrite ttl a", "Corefile:2: rewrite: too few (1) arguments for a ttl rule"),
        (" rewrite ttl a -", "Corefile:2: rewrite: invalid TTL '-' for a ttl rule"),
        (" rewrite ttl a 30-10", "Corefile:2: rewrite: invalid TTL '30-10' for a ttl rule"),
        (" rewrite ttl a +5", "Corefile:2: rewrite: invalid TTL '+5' for a ttl rule"),
        (" rewrite ttl a b c d", "Corefile:2: rewrite: invalid TTL '' for a ttl rule"),
        (" rewrite ttl bogus a 5", "Corefile:2: rewrite: ttl rule supports only exact, prefix, suffix, substring, and regex name matching"),
        (" rewrite ttl regex (a 5", "Corefile:2: rewrite: invalid regex pattern in a ttl rule: (a"),
        (" rewrite name a b {\n  x\n }", "Corefile:2: rewrite: a rule on the line takes no block"),
        (" rewrite stop {\n  name regex (.*) {1}\n  bogus\n }", "Corefile:2: rewrite: invalid arguments for regex rule"),
    ];
    for (lines, want) in table {
        let got = rules(&block(lines)).map(|r| r.len());
        let err = got.expect_err(lines);
        assert!(err.starts_with(want), "{lines:?}: {err}");
    }
}

#[test]
fn parse_forms() {
    let ok = [
        (" rewrite name foo.example.com foo.default.svc.cluster.local", 1),
        (" rewrite stop {\n  name regex (.*)\\.cluster\\.example\\.com {1}.svc.cluster.local\n  answer name (.*)\\.svc\\.cluster\\.local {1}.cluster.example.com\n }", 1),
        (" rewrite continue name suffix .a. .b. answer auto\n rewrite name exact x y", 2),
        (" rewrite name regex (.*) {1} answer name (.*) {1} value (.*) {1}", 1),
        (" rewrite type ANY hinfo\n rewrite class CH IN\n rewrite ttl example.com. 30-", 3),
        (" rewrite ttl regex (.*)\\.example 15\n rewrite ttl suffix example.com -30", 2),
    ];
    for (lines, n) in ok {
        let got = rules(&block(lines)).unwrap_or_else(|e| panic!("{lines:?}: {e}"));
        assert_eq!(got.len(), n, "{lines:?}");
    }
    let r = rules(&block(" rewrite NAME Foo.Example.com Bar.example.com")).unwrap();
    match &r[0] {
        Rule::Name { from, to, auto, .. } => {
            assert!(matches!(from, rule::Matcher::Exact(f) if f == "foo.example.com."));
            assert_eq!(to, "bar.example.com.");
            assert!(*auto, "exact rules always map the answer back");
        }
        other => panic!("{other:?}"),
    }
    let r = rules(&block(" rewrite ttl example.com. -30")).unwrap();
    assert!(matches!(r[0], Rule::Ttl(rule::Mode::Stop, _, 0, 30)));
}

fn question(name: &str, qtype: RecordType) -> Question {
    Question {
        name: name.into(),
        qtype,
        class: DNSClass::IN,
        opt: Opt::default(),
    }
}

fn client() -> rule::Client {
    rule::Client {
        src: "127.0.0.1:5353".parse().unwrap(),
        local: "127.0.0.1:53".parse().unwrap(),
        proto: "udp",
    }
}

#[test]
fn rules_rewrite_the_question_in_order() {
    let a = RecordType::A;
    let table: &[(&str, &str, RecordType, &str, RecordType)] = &[
        (
            " rewrite name foo.example.com bar.example.org",
            "FOO.example.com.",
            a,
            "bar.example.org.",
            a,
        ),
        (
            " rewrite name foo.example.com bar.example.org",
            "xfoo.example.com.",
            a,
            "xfoo.example.com.",
            a,
        ),
        (
            " rewrite name prefix foo bar",
            "foo.example.com.",
            a,
            "bar.example.com.",
            a,
        ),
        (
            " rewrite name suffix .example.com .svc.local",
            "x.y.example.com.",
            a,
            "x.y.svc.local.",
            a,
        ),
        (
            " rewrite name substring service.us-west-1.example.org service.us-west-1.consul",
            "ftp.service.us-west-1.example.org.",
            a,
            "ftp.service.us-west-1.consul.",
            a,
        ),
        (
            " rewrite name regex (.*)-(us-west-1)\\.example\\.org {1}.service.{2}.consul",
            "ftp-us-west-1.example.org.",
            a,
            "ftp.service.us-west-1.consul.",
            a,
        ),
        // stop (the default) ends the list; continue goes on with the rewritten name.
        (
            " rewrite name a.x b.x\n rewrite name b.x c.x",
            "a.x.",
            a,
            "b.x.",
            a,
        ),
        (
            " rewrite continue name a.x b.x\n rewrite name b.x c.x",
            "a.x.",
            a,
            "c.x.",
            a,
        ),
        (
            " rewrite continue type A AAAA\n rewrite name a.x b.x",
            "a.x.",
            a,
            "b.x.",
            RecordType::AAAA,
        ),
        (
            " rewrite type A AAAA\n rewrite name a.x b.x",
            "a.x.",
            a,
            "a.x.",
            RecordType::AAAA,
        ),
        (
            " rewrite type ANY HINFO",
            "a.x.",
            RecordType::ANY,
            "a.x.",
            RecordType::HINFO,
        ),
        // a ttl rule matches and stops too
        (
            " rewrite ttl a.x 5\n rewrite name a.x b.x",
            "a.x.",
            a,
            "a.x.",
            a,
        ),
    ];
    for (lines, name, qtype, want_name, want_type) in table {
        let r = rules(&block(lines)).unwrap();
        let mut q = question(name, *qtype);
        let out = rule::apply(&r, &mut q, &client());
        assert_eq!(
            (q.name.as_str(), q.qtype),
            (*want_name, *want_type),
            "{lines:?} {name}"
        );
        assert_eq!(
            out.done,
            name != want_name || qtype != want_type || lines.contains("ttl")
        );
    }
    let r = rules(&block(" rewrite name regex (.*) {1}{1}{1}{1}")).unwrap();
    let out = rule::apply(&r, &mut question(&"a".repeat(60), RecordType::A), &client());
    assert!(out.invalid.is_some(), "a label over 63 bytes is not a name");
}

#[test]
fn names_and_domain_names() {
    for (n, ok) in [
        (".", true),
        ("a.b.", true),
        ("", false),
        ("a..b.", false),
        (&format!("{}.", "a".repeat(64)), false),
        (&format!("{}.", "a".repeat(63)), true),
        (&"abcdefghi.".repeat(26), false),
    ] {
        assert_eq!(rule::is_domain_name(n), ok, "{n}");
    }
    let remap = Rewriter::Remap("b.x.".into(), "a.x.".into());
    assert_eq!(remap.rewrite("b.x.").as_deref(), Some("a.x."));
    assert_eq!(remap.rewrite("c.b.x.").as_deref(), Some("c.a.x."));
    assert_eq!(remap.rewrite("cb.x."), None);
}

/// Answers with an A and an SRV at the name it sees and a CNAME to `t.` + the name; keeps the
/// question it saw.
struct Backend(Mutex<Option<(String, RecordType, DNSClass)>>);

impl Directive for Backend {
    fn name(&self) -> &'static str {
        "backend"
    }

    fn serve<'a>(&'a self, q: &'a Query, _next: Next<'a>) -> Served<'a> {
        *self.0.lock().unwrap() = Some((q.lower.clone(), q.qtype, q.class));
        let t = Name::from_ascii(format!("t.{}", q.lower)).unwrap();
        let mut a = Answer::code(ResponseCode::NoError);
        a.answers.push(Record::from_rdata(
            q.name.clone(),
            300,
            RData::CNAME(CNAME(t.clone())),
        ));
        a.answers.push(Record::from_rdata(
            t.clone(),
            5,
            RData::A(A::new(10, 0, 0, 1)),
        ));
        a.additional.push(Record::from_rdata(
            q.name.clone(),
            60,
            RData::SRV(SRV::new(0, 0, 53, t)),
        ));
        Served::ready(a)
    }
}

async fn serve(lines: &str, name: &str) -> (Option<(String, RecordType, DNSClass)>, Answer) {
    let c = RewriteConfig {
        rules: rules(&block(lines)).unwrap(),
    };
    let backend = Arc::new(Backend(Mutex::new(None)));
    let mut r = Router::default();
    r.ports.entry(53).or_default().push(Arc::new(Block::new(
        vec![".".into()],
        vec![Arc::new(Rewrite::new(&c)), backend.clone()],
    )));
    let r = Arc::new(r);
    let q = Query::internal(Name::from_ascii(name).unwrap(), RecordType::A);
    let a = r.answer(53, &q).await;
    let seen = backend.0.lock().unwrap().clone();
    (seen, a)
}

fn shown(a: &Answer) -> Vec<String> {
    a.answers
        .iter()
        .chain(&a.additional)
        .map(|r| format!("{} {} {}", r.name, r.ttl, r.data))
        .collect()
}

#[tokio::test]
async fn answers_are_mapped_back() {
    let table: &[(&str, &str, &str, &[&str])] = &[
        // exact: owner names and values under the rewritten name map back, lower-cased.
        (" rewrite name foo.example.com foo.default.svc.cluster.local", "Foo.Example.com.", "foo.default.svc.cluster.local.",
         &["foo.example.com. 300 t.foo.example.com.", "t.foo.example.com. 5 10.0.0.1", "foo.example.com. 60 0 0 53 t.foo.example.com."]),
        // regex without answer rules: nothing maps back but the question.
        (" rewrite name regex (.*)\\.c\\.example {1}.svc.local", "a.c.example.", "a.svc.local.",
         &["a.svc.local. 300 t.a.svc.local.", "t.a.svc.local. 5 10.0.0.1", "a.svc.local. 60 0 0 53 t.a.svc.local."]),
        (" rewrite stop {\n  name regex (.*)\\.c\\.example {1}.svc.local\n  answer name (.*)\\.svc\\.local {1}.c.example\n }", "a.c.example.", "a.svc.local.",
         &["a.c.example. 300 t.a.svc.local.", "t.a.c.example. 5 10.0.0.1", "a.c.example. 60 0 0 53 t.a.svc.local."]),
        (" rewrite name regex (.*)\\.c\\.example {1}.svc.local answer auto", "a.c.example.", "a.svc.local.",
         &["a.c.example. 300 t.a.c.example.", "t.a.c.example. 5 10.0.0.1", "a.c.example. 60 0 0 53 t.a.c.example."]),
        (" rewrite name regex (.*)\\.c\\.example {1}.svc.local answer name (.*)\\.svc\\.local {1}.c.example answer value (.*)\\.svc\\.local {1}.v.example", "a.c.example.", "a.svc.local.",
         &["a.c.example. 300 t.a.v.example.", "t.a.c.example. 5 10.0.0.1", "a.c.example. 60 0 0 53 t.a.v.example."]),
        (" rewrite name suffix .c.example .svc.local answer auto", "a.c.example.", "a.svc.local.",
         &["a.c.example. 300 t.a.c.example.", "t.a.c.example. 5 10.0.0.1", "a.c.example. 60 0 0 53 t.a.c.example."]),
        (" rewrite ttl regex .* 10-100", "a.c.example.", "a.c.example.",
         &["a.c.example. 100 t.a.c.example.", "t.a.c.example. 10 10.0.0.1", "a.c.example. 60 0 0 53 t.a.c.example."]),
        // response rules run in reverse rule order: the ttl rule's, then the name's.
        (" rewrite continue name x.example y.example\n rewrite ttl y.example 7", "x.example.", "y.example.",
         &["x.example. 7 t.x.example.", "t.x.example. 7 10.0.0.1", "x.example. 7 0 0 53 t.x.example."]),
    ];
    for (lines, name, want_seen, want) in table {
        let (seen, a) = serve(lines, name).await;
        assert_eq!(seen.map(|s| s.0).as_deref(), Some(*want_seen), "{lines:?}");
        assert_eq!(shown(&a), *want, "{lines:?}");
    }
    let (seen, a) = serve(
        " rewrite name regex (.*) {1}{1}{1}{1}",
        &format!("{}.", "a".repeat(40)),
    )
    .await;
    assert!(seen.is_none(), "an invalid name is not passed on");
    assert_eq!(a.rcode, ResponseCode::ServFail);
    assert!(a
        .error
        .unwrap()
        .starts_with("invalid name after rewrite: aaaa"));
    let (seen, _) = serve(" rewrite class IN CH", "a.x.").await;
    assert_eq!(seen.map(|s| s.2), Some(DNSClass::CH));
}
