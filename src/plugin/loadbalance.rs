//! `loadbalance [round_robin]`: shuffles the A and AAAA (and MX) records of every NOERROR
//! answer, keeping CNAMEs first and other records next, as CoreDNS (glibc wants the CNAME
//! chain before the addresses). `weighted` and `prefer` are not implemented.
use hickory_server::proto::op::ResponseCode;
use hickory_server::proto::rr::{Record, RecordType};
use rand::seq::SliceRandom;

use crate::config::args;
use crate::config::syntax::{ConfigError, Line};
use crate::dns::{Answer, Directive, Next, Query, Served};

const D: &str = "loadbalance";

/// `loadbalance` in a chain: shuffles the answer of the rest of the chain.
pub struct Loadbalance;

impl Directive for Loadbalance {
    fn name(&self) -> &'static str {
        D
    }

    fn serve<'a>(&'a self, q: &'a Query, next: Next<'a>) -> Served<'a> {
        // A zone transfer keeps its order (SOA first), as CoreDNS's.
        if matches!(q.qtype, RecordType::AXFR | RecordType::IXFR) {
            return next.answer(q);
        }
        next.answer(q).map(|mut a| {
            shuffle(&mut a);
            a
        })
    }

    /// A replay would repeat one order: only answers it would not shuffle.
    fn replayable(&self, a: &Answer) -> bool {
        !would_shuffle(a)
    }
}

/// Parses `loadbalance [round_robin]` (no block); `weighted` and `prefer` are refused.
pub fn parse(line: &Line) -> Result<(), ConfigError> {
    match line.args() {
        [] => {}
        [p] if p.text == "round_robin" => {}
        [p, ..] if p.text == "weighted" => {
            return Err(ConfigError::at(
                p,
                Some(D),
                "the weighted policy is not supported by kdns (round_robin only)",
            ))
        }
        [p, ..] => {
            return Err(ConfigError::at(
                p,
                Some(D),
                format!("unknown policy {:?} (round_robin)", p.text),
            ))
        }
    }
    if let Some(o) = args::block(line).first() {
        return Err(if o.name().text == "prefer" || o.name().text == "reload" {
            ConfigError::at(
                o.name(),
                Some(D),
                format!("{} is not supported by kdns", o.name().text),
            )
        } else {
            args::unknown(o, D)
        });
    }
    Ok(())
}

fn round_robin(records: &mut Vec<Record>) {
    if records.len() < 2 {
        return;
    }
    let (mut cname, mut addr, mut mx, mut rest) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for r in records.drain(..) {
        match r.record_type() {
            RecordType::CNAME => cname.push(r),
            RecordType::A | RecordType::AAAA => addr.push(r),
            RecordType::MX => mx.push(r),
            _ => rest.push(r),
        }
    }
    let mut rng = rand::rng();
    addr.shuffle(&mut rng);
    mx.shuffle(&mut rng);
    records.extend(cname);
    records.extend(rest);
    records.extend(addr);
    records.extend(mx);
}

/// Whether [`shuffle`] could change this answer (two or more A, AAAA or MX in a section).
pub fn would_shuffle(a: &Answer) -> bool {
    let many = |rs: &[Record]| {
        rs.iter()
            .filter(|r| {
                matches!(
                    r.record_type(),
                    RecordType::A | RecordType::AAAA | RecordType::MX
                )
            })
            .count()
            > 1
    };
    a.rcode == ResponseCode::NoError
        && (many(&a.answers) || many(&a.authority) || many(&a.additional))
}

/// Shuffles a NOERROR answer's sections in place.
pub fn shuffle(a: &mut Answer) {
    if a.rcode != ResponseCode::NoError {
        return;
    }
    round_robin(&mut a.answers);
    round_robin(&mut a.authority);
    round_robin(&mut a.additional);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load_str;
    use hickory_server::proto::rr::rdata::{A, CNAME, TXT};
    use hickory_server::proto::rr::{Name, RData};
    use std::collections::HashSet;
    use std::path::Path;

    #[test]
    fn parse_table() {
        let p = |t: &str| {
            load_str(t, Path::new("Corefile"), 53)
                .map(|_| ())
                .map_err(|e| e.to_string())
        };
        assert!(p(".:53 {\n loadbalance\n}\n").is_ok());
        assert!(p(".:53 {\n loadbalance round_robin\n}\n").is_ok());
        assert!(p(".:53 {\n loadbalance weighted /w\n}\n")
            .unwrap_err()
            .starts_with("Corefile:2: loadbalance: the weighted policy is not supported"));
        assert!(p(".:53 {\n loadbalance random\n}\n")
            .unwrap_err()
            .starts_with("Corefile:2: loadbalance: unknown policy \"random\""));
        assert!(p(".:53 {\n loadbalance {\n  prefer 10.0.0.0/8\n }\n}\n")
            .unwrap_err()
            .starts_with("Corefile:3: loadbalance: prefer is not supported"));
    }

    #[test]
    fn cnames_first_addresses_shuffled() {
        let n = Name::from_ascii("x.example.").unwrap();
        let mut a = Answer::code(ResponseCode::NoError);
        for i in 0..8u8 {
            a.answers.push(Record::from_rdata(
                n.clone(),
                30,
                RData::A(A::new(10, 0, 0, i)),
            ));
        }
        a.answers.push(Record::from_rdata(
            n.clone(),
            30,
            RData::TXT(TXT::new(vec!["t".into()])),
        ));
        a.answers.push(Record::from_rdata(
            n.clone(),
            30,
            RData::CNAME(CNAME(n.clone())),
        ));
        let mut orders = HashSet::new();
        for _ in 0..50 {
            let mut b = a.clone();
            shuffle(&mut b);
            assert_eq!(b.answers[0].record_type(), RecordType::CNAME);
            assert_eq!(b.answers[1].record_type(), RecordType::TXT);
            assert_eq!(b.answers.len(), 10);
            orders.insert(format!(
                "{:?}",
                b.answers[2..]
                    .iter()
                    .map(|r| r.data.clone())
                    .collect::<Vec<_>>()
            ));
        }
        assert!(orders.len() > 1, "the order changes");
        let mut nx = a.clone();
        nx.rcode = ResponseCode::NXDomain;
        let before = format!("{:?}", nx.answers);
        shuffle(&mut nx);
        assert_eq!(format!("{:?}", nx.answers), before, "only NOERROR answers");
    }
}
