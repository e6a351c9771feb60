use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use hickory_server::proto::rr::rdata::A;
use hickory_server::proto::rr::Name;

use super::*;
use crate::config::testing::first_directive;
use crate::dns::Router;
use crate::zone::Fallthrough;
use text::Text;

fn cfg(text: &str) -> Result<TemplateConfig, String> {
    first_directive(text, |p| match p {
        crate::config::Plugin::Template(t) => Some((**t).clone()),
        _ => None,
    })
    .map_err(|e| e.to_string())
}

fn block(body: &str) -> String {
    format!(".:53 {{\n{body}\n}}\n")
}

#[test]
fn parse_table() {
    let c = cfg(&block(
        " template IN A example {\n  match \"^ip-(?P<a>[0-9]+)[.]example[.]$\" \"^x[.]\"\n  answer \"{{ .Name }} 60 IN A 10.0.0.{{ .Group.a }}\"\n  authority \"example. 60 IN NS ns0.example.\"\n  fallthrough in-addr.arpa\n  upstream\n }\n template ANY ANY {\n  rcode NXDOMAIN\n }",
    ))
    .unwrap();
    assert_eq!(c.rules.len(), 2, "both template lines join one directive");
    let (a, b) = (&c.rules[0], &c.rules[1]);
    assert_eq!((a.class, a.qtype), (DNSClass::IN, RecordType::A));
    assert_eq!(a.zones, vec!["example.".to_string()]);
    assert_eq!(a.regex.len(), 2);
    assert!(a.groups);
    assert!(
        matches!(a.authority[0], Rr::Fixed(..)),
        "no action: parsed at load"
    );
    assert!(matches!(a.answer[0], Rr::Text(_)));
    assert_eq!(a.fall, Fallthrough::Zones(vec!["in-addr.arpa.".into()]));
    assert_eq!(b.zones, vec![".".to_string()], "the server block's zones");
    assert_eq!(b.regex[0].as_str(), ".*");
    assert_eq!(b.rcode, ResponseCode::NXDomain);
    assert_eq!(b.fall, Fallthrough::Off);
    assert_eq!(c.zones, vec!["example.".to_string(), ".".to_string()]);

    let bad = [
        (" template", "Corefile:2: template: Wrong argument count"),
        (" template IN", "Corefile:2: template: Wrong argument count"),
        (" template XX A", "Corefile:2: template: invalid query class XX"),
        (" template IN a", "Corefile:2: template: invalid RR class a"),
        (" template IN BOGUS", "Corefile:2: template: invalid RR class BOGUS"),
        (
            " template IN A {\n  match \"(?P<a\"\n }",
            "Corefile:3: template: could not parse regex: (?P<a,",
        ),
        (" template IN A {\n  match\n }", "Corefile:3: template: Wrong argument count"),
        (" template IN A {\n  rcode nxdomain\n }", "Corefile:3: template: unknown rcode nxdomain"),
        (" template IN A {\n  bogus 1\n }", "Corefile:3: template: unknown property \"bogus\""),
        (" template IN A {\n  ederror 21\n }", "Corefile:3: template: ederror is not supported"),
        (
            " template IN A {\n  answer \"x. 60 IN A 10.0.0.300\"\n }",
            "Corefile:3: template: invalid answer record",
        ),
        (
            " template IN A {\n  answer \"{{ .Nope }} 60 IN A 10.0.0.1\"\n }",
            "Corefile:3: template: could not compile template: answer, can't evaluate field .Nope",
        ),
        (
            " template IN A {\n  answer \"{{ printf \\\"%s\\\" .Name }} 60 IN A 10.0.0.1\"\n }",
            "Corefile:3: template: could not compile template: answer, function \"printf\" is not supported",
        ),
        (
            " template IN A {\n  additional \"{{ nope .Name }}\"\n }",
            "Corefile:3: template: could not compile template: additional, function \"nope\" not defined",
        ),
        (
            " template IN A {\n  answer \"{{ .Name \"\n }",
            "Corefile:3: template: could not compile template: answer, unclosed action",
        ),
        (
            " template IN A {\n  answer \"{{ parseInt .Name 16 }}\"\n }",
            "Corefile:3: template: could not compile template: answer, wrong number of args for parseInt",
        ),
    ];
    for (body, want) in bad {
        let e = cfg(&block(body)).unwrap_err();
        assert!(e.starts_with(want), "{body:?}: {e}");
    }
    let long = format!(" template IN A {{\n  match {}\n }}", "a".repeat(10001));
    assert!(cfg(&block(&long))
        .unwrap_err()
        .contains("regex pattern too long: 10001 > 10000"));
}

fn data<'a>(re: &'a Regex, name: &'a str) -> Data<'a> {
    let c = re.captures(name).unwrap();
    Data {
        zone: "example.",
        name,
        regex: re.as_str(),
        class: "IN",
        qtype: "A".into(),
        remote: "10.9.8.7".into(),
        matches: c
            .iter()
            .map(|m| m.map_or(String::new(), |m| m.as_str().to_string()))
            .collect(),
        names: re.capture_names().collect(),
        question: ("IP-0a0102.Example.".into(), 1, 1),
    }
}

#[test]
fn render_table() {
    let re = Regex::new(r"^ip-(?P<b>[0-9a-f]{2})(?P<c>[0-9a-f]{2})(x)?[.](example)[.]$").unwrap();
    let d = data(&re, "ip-0a01.example.");
    let cases = [
        (
            "{{ .Name }} 60 IN A 10.0.0.1",
            "ip-0a01.example. 60 IN A 10.0.0.1",
        ),
        (
            "{{.Zone}} {{.Class}} {{.Type}} {{.Remote}}",
            "example. IN A 10.9.8.7",
        ),
        ("{{ index .Match 4 }}|{{ index .Match 3 }}|", "example||"),
        (
            "{{ .Group.b }}-{{ .Group.c }}-{{ .Group.4 }}",
            "0a-01-example",
        ),
        ("{{ .Group.nope }}", "<no value>"),
        ("{{ index .Group \"b\" }}{{ index .Group \"nope\" }}", "0a"),
        (
            "10.{{ parseInt .Group.b 16 8 }}.{{ parseInt .Group.c 16 8 }}",
            "10.10.1",
        ),
        ("a  {{- .Group.b -}}  b", "a0ab"),
        ("a {{/* note */}}b", "a b"),
        (
            "{{ .Question.Name }} {{ .Question.Qtype }} {{ .Question.Qclass }}",
            "IP-0a0102.Example. 1 1",
        ),
        ("{{ .Match }}", "[ip-0a01.example. 0a 01  example]"),
        (
            "{{ .Group }}",
            "map[0:ip-0a01.example. 1:0a 2:01 3: 4:example b:0a c:01]",
        ),
        ("{{ len .Match }} {{ .Name | len }}", "5 16"),
        ("{{ .Meta \"kubernetes/client-namespace\" }}!", "!"),
        (
            "{{ \"lit\" }} {{ 7 }} {{ .Regex }}",
            &format!("lit 7 {}", re.as_str()),
        ),
    ];
    for (src, want) in cases {
        let t = Text::parse(src).unwrap_or_else(|e| panic!("{src}: {e}"));
        let mut out = String::new();
        t.render("answer", &d, &mut out).unwrap();
        assert_eq!(out, want, "{src}");
    }
    for (src, err) in [
        (
            "{{ index .Match 9 }}",
            "error calling index: index out of range: 9",
        ),
        ("{{ parseInt .Group.b 10 8 }}", "invalid syntax"),
        ("{{ parseInt .Group.nope 16 8 }}", "wrong type"),
        ("{{ parseInt \"1ff\" 16 8 }}", "value out of range"),
    ] {
        let mut out = String::new();
        let e = Text::parse(src)
            .unwrap()
            .render("answer", &d, &mut out)
            .unwrap_err();
        assert!(e.contains(err), "{src}: {e}");
        assert!(e.starts_with("executing \"answer\" at <"), "{e}");
    }
    let t = Text::parse("{{ .Name }} 60 IN A {{ index .Match 1 }}").unwrap();
    assert_eq!(t.tree, "{{.Name}} 60 IN A {{index .Match 1}}");
    assert!(Text::parse("no actions").unwrap().literal().is_some());
}

/// Answers every question with `192.0.2.1` (A) and counts nothing: the next directive.
struct Rest;

impl Directive for Rest {
    fn name(&self) -> &'static str {
        "rest"
    }

    fn serve<'a>(&'a self, q: &'a Query, _next: Next<'a>) -> Served<'a> {
        let mut a = Answer::code(ResponseCode::NoError).by("rest");
        if q.qtype == RecordType::A {
            a.answers.push(Record::from_rdata(
                q.name.clone(),
                5,
                RData::A(A::new(192, 0, 2, 1)),
            ));
        }
        Served::ready(a)
    }
}

async fn ask(body: &str, name: &str, qtype: RecordType) -> Answer {
    ask_in(body, name, qtype, DNSClass::IN).await
}

async fn ask_in(body: &str, name: &str, qtype: RecordType, class: DNSClass) -> Answer {
    let c = cfg(&block(body)).unwrap();
    let t: Arc<dyn Directive> = Template::new(&c, "dns://:53");
    let b = Arc::new(crate::dns::Block::new(
        vec![".".into()],
        vec![t, Arc::new(Rest)],
    ));
    let router = Arc::new(Router {
        ports: HashMap::from([(53, vec![b])]),
        data: Default::default(),
    });
    let mut q = Query::internal(Name::from_ascii(name).unwrap(), qtype);
    q.internal = false;
    q.src = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3)), 5353);
    q.class = class;
    router.answer(53, &q).await
}

/// CoreDNS's `template.match` compares the question's class: an IN template leaves a CH
/// question to the next directive, a CH template answers it and prints `.Class` as `CH`.
#[tokio::test]
async fn the_class_of_the_question_decides() {
    let in_a = " template IN TXT example {\n  answer \"{{ .Name }} 0 IN TXT {{ .Class }}\"\n }";
    let a = ask_in(in_a, "x.example.", RecordType::TXT, DNSClass::CH).await;
    assert_eq!(a.plugin, "rest", "{a:?}");
    let a = ask_in(in_a, "x.example.", RecordType::TXT, DNSClass::IN).await;
    assert_eq!(texts(&a.answers), ["x.example. 0 IN TXT IN"]);
    let ch = " template CH TXT example {\n  answer \"{{ .Name }} 0 CH TXT {{ .Class }}\"\n }";
    let a = ask_in(ch, "x.example.", RecordType::TXT, DNSClass::CH).await;
    assert_eq!(texts(&a.answers), ["x.example. 0 CH TXT CH"]);
    let a = ask_in(ch, "x.example.", RecordType::TXT, DNSClass::IN).await;
    assert_eq!(a.plugin, "rest", "{a:?}");
    let any = " template ANY TXT example {\n  answer \"{{ .Name }} 0 CH TXT {{ .Class }}\"\n }";
    let a = ask_in(any, "x.example.", RecordType::TXT, DNSClass::CH).await;
    assert_eq!(texts(&a.answers), ["x.example. 0 CH TXT CH"]);
}

fn texts(rs: &[Record]) -> Vec<String> {
    rs.iter().map(|r| r.to_string()).collect()
}

const AKS: &str = " template ANY ANY internal.cloudapp.net {\n  match \"^(?:[^.]+\\.){4,}internal\\.cloudapp\\.net\\.$\"\n  rcode NXDOMAIN\n  fallthrough\n }\n template ANY ANY reddog.microsoft.com {\n  rcode NXDOMAIN\n }";

#[tokio::test]
async fn serve_table() {
    use RecordType::{A, AAAA, ANY, MX, TXT};
    let ipa = " template IN A example {\n  match \"^ip-(?P<a>[0-9]+)-(?P<b>[0-9]+)[.]example[.]$\"\n  answer \"{{ .Name }} 60 IN A 10.0.{{ .Group.a }}.{{ .Group.b }}\"\n  fallthrough\n }";
    let nx = " template IN ANY invalid {\n  rcode NXDOMAIN\n  authority \"invalid. 60 {{ .Class }} SOA ns.invalid. hostmaster.invalid. (1 60 60 60 60)\"\n }";
    let cname = " template IN ANY foogle.com {\n  match \"^foogle\\.com\\.$\"\n  answer \"foogle.com 60 IN CNAME google.com\"\n }";
    let remote = " template IN TXT who {\n  answer \"{{ .Name }} 0 IN TXT {{ .Remote }}\"\n }";
    let order = " template IN A example {\n  match ^a[.]\n  answer \"{{ .Name }} 1 IN A 10.0.0.1\"\n  fallthrough\n }\n template IN A example {\n  match ^a[.] ^b[.]\n  answer \"{{ .Name }} 2 IN A 10.0.0.2\"\n }";
    let bad_rr =
        " template IN A example {\n  answer \"{{ .Name }} 60 IN A 10.0.0.{{ .Group.nope }}\"\n }";
    let servfail = " template IN A example {\n  rcode SERVFAIL\n }";
    // (corefile body, name, type, rcode, answers, authority, answered by the template)
    type Case<'a> = (
        &'a str,
        &'a str,
        RecordType,
        ResponseCode,
        &'a [&'a str],
        &'a [&'a str],
        bool,
    );
    let cases: &[Case<'_>] = &[
        (
            ipa,
            "ip-1-2.example.",
            A,
            ResponseCode::NoError,
            &["ip-1-2.example. 60 IN A 10.0.1.2"],
            &[],
            true,
        ),
        (
            ipa,
            "other.example.",
            A,
            ResponseCode::NoError,
            &["other.example. 5 IN A 192.0.2.1"],
            &[],
            false,
        ),
        (
            ipa,
            "ip-1-2.example.",
            MX,
            ResponseCode::NoError,
            &[],
            &[],
            false,
        ),
        (
            ipa,
            "ip-1-2.other.",
            A,
            ResponseCode::NoError,
            &["ip-1-2.other. 5 IN A 192.0.2.1"],
            &[],
            false,
        ),
        (
            nx,
            "x.invalid.",
            AAAA,
            ResponseCode::NXDomain,
            &[],
            &["invalid. 60 IN SOA ns.invalid. hostmaster.invalid. 1 60 60 60 60"],
            true,
        ),
        (
            AKS,
            "a.b.c.d.internal.cloudapp.net.",
            A,
            ResponseCode::NXDomain,
            &[],
            &[],
            true,
        ),
        (
            AKS,
            "d.internal.cloudapp.net.",
            A,
            ResponseCode::NoError,
            &["d.internal.cloudapp.net. 5 IN A 192.0.2.1"],
            &[],
            false,
        ),
        (
            AKS,
            "x.reddog.microsoft.com.",
            TXT,
            ResponseCode::NXDomain,
            &[],
            &[],
            true,
        ),
        (
            AKS,
            "reddog.microsoft.com.",
            A,
            ResponseCode::NXDomain,
            &[],
            &[],
            true,
        ),
        (
            cname,
            "foogle.com.",
            A,
            ResponseCode::NoError,
            &[
                "foogle.com. 60 IN CNAME google.com.",
                "google.com. 5 IN A 192.0.2.1",
            ],
            &[],
            true,
        ),
        (
            cname,
            "foogle.com.",
            TXT,
            ResponseCode::NoError,
            &["foogle.com. 60 IN CNAME google.com."],
            &[],
            true,
        ),
        (
            cname,
            "x.foogle.com.",
            A,
            ResponseCode::ServFail,
            &[],
            &[],
            false,
        ),
        (
            remote,
            "who.",
            TXT,
            ResponseCode::NoError,
            &["who. 0 IN TXT 10.1.2.3"],
            &[],
            true,
        ),
        (
            order,
            "a.example.",
            A,
            ResponseCode::NoError,
            &["a.example. 1 IN A 10.0.0.1"],
            &[],
            true,
        ),
        (
            order,
            "b.example.",
            A,
            ResponseCode::NoError,
            &["b.example. 2 IN A 10.0.0.2"],
            &[],
            true,
        ),
        (
            order,
            "c.example.",
            A,
            ResponseCode::ServFail,
            &[],
            &[],
            false,
        ),
        (
            order,
            "c.example.",
            ANY,
            ResponseCode::ServFail,
            &[],
            &[],
            false,
        ),
        (
            bad_rr,
            "x.example.",
            A,
            ResponseCode::ServFail,
            &[],
            &[],
            false,
        ),
        (
            servfail,
            "x.example.",
            A,
            ResponseCode::ServFail,
            &[],
            &[],
            false,
        ),
        (
            " template IN AAAA . {\n  rcode NOERROR\n }",
            "x.svc.",
            AAAA,
            ResponseCode::NoError,
            &[],
            &[],
            true,
        ),
        (
            " template ANY AAAA {\n  rcode NOERROR\n }",
            "x.svc.",
            A,
            ResponseCode::NoError,
            &["x.svc. 5 IN A 192.0.2.1"],
            &[],
            false,
        ),
        (
            " template CH ANY {\n  rcode NXDOMAIN\n }",
            "x.",
            A,
            ResponseCode::NoError,
            &["x. 5 IN A 192.0.2.1"],
            &[],
            false,
        ),
    ];
    for (body, name, qt, rcode, answers, authority, by_template) in cases {
        let a = ask(body, name, *qt).await;
        let what = format!("{name} {qt} with {body:?}");
        assert_eq!(a.rcode, *rcode, "{what}");
        assert_eq!(texts(&a.answers), *answers, "{what}");
        assert_eq!(texts(&a.authority), *authority, "{what}");
        assert_eq!(a.plugin == D, *by_template, "{what}");
        assert_eq!(a.authoritative, *by_template, "{what}");
    }
    let a = ask(bad_rr, "x.example.", A).await;
    let e = a.error.unwrap();
    assert!(
        e.starts_with("template: answer: bad record \"x.example. 60 IN A 10.0.0.<no value>\""),
        "{e}"
    );
    let reg = metrics::global();
    let l = [
        "dns://:53",
        "example.",
        "",
        "IN",
        "A",
        "answer",
        "{{.Name}} 60 IN A 10.0.0.{{.Group.nope}}",
    ];
    assert!(reg.value("coredns_template_rr_failures_total", &l).unwrap() >= 1.0);
    let m = ["dns://:53", "invalid.", "", "IN", "AAAA"];
    assert!(reg.value("coredns_template_matches_total", &m).unwrap() >= 1.0);
}
