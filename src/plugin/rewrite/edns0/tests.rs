//! Table tests of the `edns0`, `cname` and `rcode` rules: parsing (CoreDNS's wording), the
//! OPT record they leave, the response codes they map.
use std::path::Path;

use hickory_server::proto::op::ResponseCode;
use hickory_server::proto::rr::{DNSClass, RecordType};

use super::super::rule::{self, Client, Question, Rule};
use super::super::{revert, Answer};
use super::*;
use crate::config::{load_str, Plugin};

fn rules(lines: &str) -> Result<Vec<Rule>, String> {
    let text = format!(".:53 {{\n{lines}\n forward . 127.0.0.1\n}}\n");
    let c = load_str(&text, Path::new("Corefile"), 53).map_err(|e| e.to_string())?;
    Ok(c.blocks[0]
        .plugins
        .iter()
        .find_map(|p| match p {
            Plugin::Rewrite(r) => Some(r.rules.clone()),
            _ => None,
        })
        .unwrap_or_default())
}

#[test]
fn parse_errors_keep_coredns_wording() {
    let table = [
        (
            " rewrite edns0 local",
            "too few arguments for an EDNS0 rule",
        ),
        (" rewrite edns0 local add 1 2", "invalid action: \"add\""),
        (
            " rewrite edns0 local set 0xffee",
            "EDNS0 local rules require three or four args",
        ),
        (
            " rewrite edns0 local set 0xffee a b",
            "EDNS0 local rules require three or four args",
        ),
        (
            " rewrite edns0 local set 0xfffff a",
            "strconv.ParseUint: parsing \"0xfffff\": value out of range",
        ),
        (
            " rewrite edns0 local set foo a",
            "strconv.ParseUint: parsing \"foo\": invalid syntax",
        ),
        (
            " rewrite edns0 local set 09 a",
            "strconv.ParseUint: parsing \"09\": invalid syntax",
        ),
        (
            " rewrite edns0 local set 1 0xabc",
            "encoding/hex: odd length hex string",
        ),
        (
            " rewrite edns0 local set 1 0xzz",
            "encoding/hex: invalid byte: U+007A 'z'",
        ),
        (
            " rewrite edns0 local set 1 {bogus}",
            "unsupported variable name \"{bogus}\"",
        ),
        (
            " rewrite edns0 local set 1 {/x}",
            "unsupported variable name \"{/x}\"",
        ),
        (
            " rewrite edns0 nsid set x",
            "EDNS0 NSID rules can accept no more than one arg",
        ),
        (
            " rewrite edns0 subnet set 24",
            "EDNS0 subnet rules require three or four args",
        ),
        (
            " rewrite edns0 subnet set 33 56",
            "invalid IPv4 bit mask length 33",
        ),
        (
            " rewrite edns0 subnet set 24 129",
            "invalid IPv6 bit mask length 129",
        ),
        (" rewrite edns0 foo set 1 2", "invalid rule type \"foo\""),
        (
            " rewrite edns0 local unset",
            "local unset action requires exactly two arguments",
        ),
        (
            " rewrite edns0 nsid unset x",
            "nsid unset action requires exactly one argument",
        ),
        (
            " rewrite edns0 subnet unset 1",
            "subnet unset action requires exactly one argument",
        ),
        (" rewrite edns0 foo unset", "invalid rule type \"foo\""),
        (" rewrite cname a", "too few (1) arguments for a cname rule"),
        (
            " rewrite cname a b c d",
            "too few (4) arguments for a cname rule",
        ),
        (
            " rewrite cname bogus a b",
            "unknown cname rewrite type: bogus",
        ),
        (
            " rewrite cname regex (a b",
            "invalid cname rewrite regex pattern: ",
        ),
        (
            " rewrite rcode a NXDOMAIN",
            "too few (2) arguments for a rcode rule",
        ),
        (
            " rewrite rcode a BOGUS NXDOMAIN",
            "invalid matching RCODE 'BOGUS' for a rcode rule",
        ),
        (
            " rewrite rcode a SERVFAIL 24",
            "invalid replacement RCODE '24' for a rcode rule",
        ),
        (
            " rewrite rcode a b c d e",
            "invalid matching RCODE '' for a rcode rule",
        ),
        (
            " rewrite rcode bogus a 2 3",
            "rcode rule supports only exact, prefix, suffix, substring, and regex name matching",
        ),
        (
            " rewrite rcode regex (a 2 3",
            "invalid regex pattern in a rcode rule: (a",
        ),
    ];
    for (lines, want) in table {
        let err = rules(lines).map(|r| r.len()).expect_err(lines);
        let want = format!("Corefile:2: rewrite: {want}");
        assert!(err.starts_with(&want), "{lines:?}: {err}");
    }
}

#[test]
fn parse_forms() {
    let r = rules(" rewrite edns0 local set 0xffee 0x61626364\n rewrite continue edns0 local append 65518 abcd revert\n rewrite edns0 nsid replace\n rewrite edns0 subnet set 24 56\n rewrite edns0 local unset 0o17\n rewrite edns0 local set 0xffee {client_ip}\n rewrite edns0 local set 1 {a/b}").unwrap();
    let e = |i: usize| match &r[i] {
        Rule::Edns0(_, e) => e.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(e(0).kind, Kind::Local(0xffee, b"abcd".to_vec()));
    assert_eq!(
        (e(1).kind, e(1).action, e(1).revert),
        (Kind::Local(0xffee, b"abcd".to_vec()), Action::Append, true)
    );
    assert_eq!((e(2).kind, e(2).action), (Kind::Nsid, Action::Replace));
    assert_eq!(e(3).kind, Kind::Subnet(24, 56));
    assert_eq!(
        (e(4).kind, e(4).action),
        (Kind::Local(15, Vec::new()), Action::Unset)
    );
    assert_eq!(e(5).kind, Kind::Variable(0xffee, Var::ClientIp));
    assert_eq!(e(6).kind, Kind::Variable(1, Var::Label));
    let r = rules(" rewrite cname Foo.Example Bar.Example\n rewrite continue cname suffix .A.com .b.com\n rewrite rcode example.com SERVFAIL 3\n rewrite rcode suffix x 0 nxdomain").unwrap();
    assert!(
        matches!(&r[0], Rule::Cname(_, c) if c.to == "bar.example." && matches!(&c.from, rule::Matcher::Exact(f) if f == "foo.example."))
    );
    assert!(
        matches!(&r[1], Rule::Cname(rule::Mode::Continue, c) if c.to == ".b.com" && matches!(&c.from, rule::Matcher::Suffix(f) if f == ".a.com"))
    );
    assert!(matches!(&r[2], Rule::Rcode(_, rule::Matcher::Exact(n), 2, 3) if n == "example.com."));
    assert!(matches!(&r[3], Rule::Rcode(_, rule::Matcher::Suffix(n), 0, 3) if n == "x."));
}

fn client() -> Client {
    Client {
        src: "127.0.0.9:5353".parse().unwrap(),
        local: "127.0.0.1:1053".parse().unwrap(),
        proto: "udp",
    }
}

/// The OPT record `lines` leave for a query for `a.example.` with `opt`.
fn after(lines: &str, opt: Opt) -> (Opt, bool) {
    let r = rules(lines).unwrap();
    let mut q = Question {
        name: "a.example.".into(),
        qtype: RecordType::A,
        class: DNSClass::IN,
        opt,
    };
    let out = rule::apply(&r, &mut q, &client());
    (q.opt, out.done)
}

fn opt(present: bool, options: &[(u16, &[u8])]) -> Opt {
    Opt {
        present,
        options: options.iter().map(|(c, d)| (*c, d.to_vec())).collect(),
        changed: false,
    }
}

#[test]
fn edns0_rules_change_the_opt_record_as_coredns() {
    let none = || opt(false, &[]);
    type Row<'a> = (&'a str, Opt, Vec<(u16, &'a [u8])>, bool);
    let table: Vec<Row<'_>> = vec![
        (
            " rewrite edns0 local set 0xffee abcd",
            none(),
            vec![(0xffee, b"abcd")],
            true,
        ),
        (
            " rewrite edns0 local set 0xffee abcd",
            opt(true, &[(0xffee, b"x"), (10, b"c")]),
            vec![(0xffee, b"abcd"), (10, b"c")],
            true,
        ),
        (
            " rewrite edns0 local append 0xffee abcd",
            opt(true, &[(0xffee, b"x")]),
            vec![(0xffee, b"x"), (0xffee, b"abcd")],
            true,
        ),
        (
            " rewrite edns0 local replace 0xffee abcd",
            none(),
            vec![],
            false,
        ),
        // a typed option (10, the cookie) is no local option: set adds another
        (
            " rewrite edns0 local set 10 abcd",
            opt(true, &[(10, b"c")]),
            vec![(10, b"c"), (10, b"abcd")],
            true,
        ),
        (
            " rewrite edns0 local unset 0xffee",
            opt(true, &[(0xffee, b"x"), (1, b"y")]),
            vec![(1, b"y")],
            true,
        ),
        (" rewrite edns0 nsid set", none(), vec![(3, b"")], true),
        (
            " rewrite edns0 nsid append",
            opt(true, &[(3, b"")]),
            vec![(3, b""), (3, b"")],
            true,
        ),
        (
            " rewrite edns0 subnet set 24 56",
            none(),
            vec![(8, &[0, 1, 24, 0, 127, 0, 0])],
            true,
        ),
        (
            " rewrite edns0 subnet set 20 56",
            none(),
            vec![(8, &[0, 1, 20, 0, 127, 0, 0])],
            true,
        ),
        (
            " rewrite edns0 subnet append 24 56",
            opt(true, &[(8, &[0, 1, 8, 0, 10])]),
            vec![(8, &[0, 1, 8, 0, 10])],
            false,
        ),
        (
            " rewrite edns0 local set 0xffee {client_ip}",
            none(),
            vec![(0xffee, &[127, 0, 0, 9])],
            true,
        ),
        (
            " rewrite edns0 local set 0xffee {server_port}",
            none(),
            vec![(0xffee, &[4, 29])],
            true,
        ),
        (
            " rewrite edns0 local set 0xffee {qname}",
            none(),
            vec![(0xffee, b"a.example.")],
            true,
        ),
        (
            " rewrite edns0 local set 0xffee {qtype}\n rewrite edns0 local set 1 x",
            none(),
            vec![(0xffee, &[0, 1])],
            true,
        ),
        (
            " rewrite edns0 local append 0xffee {protocol}",
            opt(true, &[(0xffee, b"x")]),
            vec![(0xffee, b"x")],
            false,
        ),
        (
            " rewrite edns0 local set 0xffee {some/label}",
            none(),
            vec![],
            false,
        ),
    ];
    for (lines, before, want, done) in table {
        let was = before.present;
        let (got, did) = after(lines, before);
        let want: Vec<_> = want.iter().map(|(c, d)| (*c, d.to_vec())).collect();
        assert_eq!((&got.options, did), (&want, done), "{lines:?}");
        // CoreDNS's setupEdns0Opt runs before a rule looks for its option (a variable rule:
        // once it has its data).
        let touched = !lines.contains("{some/label}");
        assert_eq!(got.present, was || touched, "{lines:?}");
        assert_eq!(got.changed, touched, "{lines:?}");
    }
}

#[test]
fn rcode_rules_map_the_response_code() {
    let table = [
        (
            " rewrite rcode a.example SERVFAIL NXDOMAIN",
            ResponseCode::ServFail,
            ResponseCode::NXDomain,
        ),
        (
            " rewrite rcode a.example SERVFAIL NXDOMAIN",
            ResponseCode::Refused,
            ResponseCode::Refused,
        ),
        (
            " rewrite rcode b.example SERVFAIL NXDOMAIN",
            ResponseCode::ServFail,
            ResponseCode::ServFail,
        ),
        (
            " rewrite rcode regex ^a\\. 3 0",
            ResponseCode::NXDomain,
            ResponseCode::NoError,
        ),
        (
            // in reverse rule order, once for the one OPT record: 3→5 sees SERVFAIL
            " rewrite continue rcode suffix example 2 3\n rewrite rcode prefix a 3 5",
            ResponseCode::ServFail,
            ResponseCode::NXDomain,
        ),
    ];
    for (lines, from, want) in table {
        let r = rules(lines).unwrap();
        let mut q = Question {
            name: "a.example.".into(),
            qtype: RecordType::A,
            class: DNSClass::IN,
            opt: Opt::default(),
        };
        let out = rule::apply(&r, &mut q, &client());
        let mut a = Answer::code(from);
        revert(&out.responses, &mut a, true);
        assert_eq!(a.rcode, want, "{lines:?}");
    }
}

#[test]
fn subnet_data_is_the_client_address_cut_to_its_prefix() {
    let v6: std::net::IpAddr = "2001:db8:abcd:12ff::1".parse().unwrap();
    assert_eq!(
        subnet_data(24, 56, v6),
        [0, 2, 56, 0, 0x20, 0x01, 0x0d, 0xb8, 0xab, 0xcd, 0x12]
    );
    assert_eq!(subnet_data(0, 0, v6), [0, 2, 0, 0]);
    let v4: std::net::IpAddr = "192.0.2.77".parse().unwrap();
    assert_eq!(subnet_data(30, 0, v4), [0, 1, 30, 0, 192, 0, 2, 76]);
    assert_eq!(subnet_data(32, 0, v4), [0, 1, 32, 0, 192, 0, 2, 77]);
}
