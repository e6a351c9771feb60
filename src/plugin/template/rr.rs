//! One zone-file resource record from text, as miekg/dns `NewRR` reads a template's output:
//! `OWNER [TTL] [CLASS] TYPE RDATA`, TTL and class in either order, relative names completed
//! with the root, 3600 when no TTL is given. The RDATA is read by hickory's text parser.
use std::str::FromStr;

use hickory_server::proto::rr::{DNSClass, Name, RData, Record, RecordType};
use hickory_server::proto::serialize::txt::parse_ttl;

/// miekg/dns's TTL for a record that names none.
const DEFAULT_TTL: u32 = 3600;

/// Parses `text` as one record; the error says what is wrong.
pub fn parse(text: &str) -> Result<Record, String> {
    let text = text.trim_start();
    let (owner, mut rest) = word(text).ok_or("no resource record")?;
    if owner.starts_with('$') {
        return Err(format!("{owner} is not a resource record"));
    }
    let root = Name::root();
    let name = if owner == "@" {
        root.clone()
    } else {
        Name::parse(owner, Some(&root)).map_err(|e| format!("bad owner name {owner:?}: {e}"))?
    };
    let (mut ttl, mut class) = (None, None);
    let rtype = loop {
        let (w, r) = word(rest).ok_or("no record type")?;
        rest = r;
        if ttl.is_none() && w.starts_with(|c: char| c.is_ascii_digit()) {
            ttl = Some(parse_ttl(w).map_err(|_| format!("bad TTL {w:?}"))?);
            continue;
        }
        let up = w.to_ascii_uppercase();
        if class.is_none() {
            if let Some(c) = class_of(&up) {
                class = Some(c);
                continue;
            }
        }
        break RecordType::from_str(&up).map_err(|_| format!("unknown record type {w:?}"))?;
    };
    if matches!(
        rtype,
        RecordType::ANY | RecordType::AXFR | RecordType::IXFR | RecordType::OPT
    ) {
        return Err(format!("{rtype} is not a record type of a zone file"));
    }
    let mut data = RData::try_from_str(rtype, rest)
        .map_err(|e| format!("bad {rtype} rdata {:?}: {e}", rest.trim()))?;
    fqdn(&mut data);
    let mut r = Record::from_rdata(name, ttl.unwrap_or(DEFAULT_TTL), data);
    r.dns_class = class.unwrap_or(DNSClass::IN);
    Ok(r)
}

/// The first whitespace-separated word and what follows it.
fn word(s: &str) -> Option<(&str, &str)> {
    let s = s.trim_start();
    if s.is_empty() {
        return None;
    }
    let end = s.find(char::is_whitespace).unwrap_or(s.len());
    Some((&s[..end], &s[end..]))
}

fn class_of(up: &str) -> Option<DNSClass> {
    match up {
        "IN" => Some(DNSClass::IN),
        "CH" => Some(DNSClass::CH),
        "HS" => Some(DNSClass::HS),
        "NONE" => Some(DNSClass::NONE),
        "ANY" => Some(DNSClass::ANY),
        _ => up
            .strip_prefix("CLASS")
            .and_then(|n| n.parse::<u16>().ok())
            .map(DNSClass::from),
    }
}

/// Names in the RDATA are relative to the root (hickory leaves them relative without an origin).
fn fqdn(data: &mut RData) {
    match data {
        RData::CNAME(n) => n.0.set_fqdn(true),
        RData::NS(n) => n.0.set_fqdn(true),
        RData::PTR(n) => n.0.set_fqdn(true),
        RData::ANAME(n) => n.0.set_fqdn(true),
        RData::MX(mx) => mx.exchange.set_fqdn(true),
        RData::SRV(srv) => srv.target.set_fqdn(true),
        RData::SOA(soa) => {
            soa.mname.set_fqdn(true);
            soa.rname.set_fqdn(true);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let ok = |t: &str| parse(t).unwrap().to_string();
        let cases = [
            ("a.example. 60 IN A 10.1.2.3", "a.example. 60 IN A 10.1.2.3"),
            ("a.example 60 A 10.1.2.3", "a.example. 60 IN A 10.1.2.3"),
            ("a.example. IN 60 AAAA ::1", "a.example. 60 IN AAAA ::1"),
            ("a.example. A 10.0.0.1", "a.example. 3600 IN A 10.0.0.1"),
            (
                "foogle.com 60 IN CNAME google.com",
                "foogle.com. 60 IN CNAME google.com.",
            ),
            (
                "x. 60 in ptr ip-1-2-3-4.example.",
                "x. 60 IN PTR ip-1-2-3-4.example.",
            ),
            ("x. 60 IN MX 10 mail.x", "x. 60 IN MX 10 mail.x."),
            (
                "_s._tcp.x. 60 IN SRV 0 100 53 t.x",
                "_s._tcp.x. 60 IN SRV 0 100 53 t.x.",
            ),
            ("x. 60 IN NS ns0.x", "x. 60 IN NS ns0.x."),
            (
                "invalid. 60 IN SOA ns.invalid. hostmaster.invalid. (1 60 60 60 60)",
                "invalid. 60 IN SOA ns.invalid. hostmaster.invalid. 1 60 60 60 60",
            ),
            ("x. 1h IN A 10.0.0.1", "x. 3600 IN A 10.0.0.1"),
            ("x. 60 CH TXT \"a\"", "x. 60 CH TXT a"),
        ];
        for (t, want) in cases {
            assert_eq!(ok(t), want, "{t}");
        }
        let txt = parse("x. 60 IN TXT \"hello world\" b").unwrap();
        let RData::TXT(t) = &txt.data else {
            panic!("{txt}")
        };
        assert_eq!(t.txt_data.len(), 2);
        assert_eq!(&*t.txt_data[0], b"hello world");
        for bad in [
            "",
            "x. 60 IN A 10.1.2.300",
            "x. 60 IN A",
            "x. 60 IN BOGUS 1",
            "x. 60 IN",
            "$INCLUDE /etc/passwd",
            "x. 60 IN ANY 1",
            "x. 60 IN AAAA 10.0.0.1",
            "x. 60 IN MX mail.x.",
            "<no value> 60 IN A 1.2.3.4",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should fail");
        }
    }
}
