//! CoreDNS's response classes (`plugin/pkg/response/typify.go`): what `cache` stores an answer
//! as, and what `log` matches its classes against.
use hickory_server::proto::op::ResponseCode;
use hickory_server::proto::rr::{Name, Record, RecordType};

use super::query::Answer;

/// CoreDNS's response classes (`response.Type`) as far as the cache cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// A positive answer.
    NoError,
    /// NXDOMAIN.
    NameError,
    /// NOERROR with no answer for the question, and an SOA.
    NoData,
    /// A referral (NS in authority).
    Delegation,
    /// SERVFAIL or NOTIMP.
    ServerError,
    /// Anything else.
    OtherError,
    /// A zone transfer (AXFR, IXFR): never cached, logged with the errors (CoreDNS's
    /// `response.Meta`).
    Meta,
}

/// The authority section holds an SOA.
pub fn has_soa(a: &Answer) -> bool {
    a.authority
        .iter()
        .any(|r| r.record_type() == RecordType::SOA)
}

fn cname_target<'a>(answers: &'a [Record], owner: &Name) -> Result<Option<&'a Name>, ()> {
    let mut target: Option<&Name> = None;
    for r in answers {
        if let hickory_server::proto::rr::RData::CNAME(c) = &r.data {
            if r.name.eq_ignore_ascii_case(owner) {
                match target {
                    Some(t) if !t.eq_ignore_ascii_case(&c.0) => return Err(()),
                    _ => target = Some(&c.0),
                }
            }
        }
    }
    Ok(target)
}

trait EqIgnoreCase {
    fn eq_ignore_ascii_case(&self, other: &Self) -> bool;
}

impl EqIgnoreCase for Name {
    fn eq_ignore_ascii_case(&self, other: &Self) -> bool {
        self.to_ascii()
            .trim_end_matches('.')
            .eq_ignore_ascii_case(other.to_ascii().trim_end_matches('.'))
    }
}

/// Does the answer section answer `(qname, qtype)`, following the CNAME chain?
pub fn answers_question(answers: &[Record], qname: &Name, qtype: RecordType) -> bool {
    if answers.is_empty() {
        return false;
    }
    if qtype == RecordType::ANY {
        return answers.iter().any(|r| r.name.eq_ignore_ascii_case(qname));
    }
    if qtype == RecordType::CNAME {
        return matches!(cname_target(answers, qname), Ok(Some(_)));
    }
    let mut name = qname.clone();
    let mut seen: Vec<Name> = Vec::new();
    loop {
        if seen.iter().any(|s| s.eq_ignore_ascii_case(&name)) {
            return false;
        }
        seen.push(name.clone());
        match cname_target(answers, &name) {
            Err(()) => return false,
            Ok(Some(t)) => name = t.clone(),
            Ok(None) => break,
        }
    }
    answers
        .iter()
        .any(|r| r.record_type() == qtype && r.name.eq_ignore_ascii_case(&name))
}

impl Answer {
    /// `response.Typify`, with CoreDNS's NODATA-with-CNAME reclassification.
    pub fn class(&self, qname: &Name, qtype: RecordType) -> Class {
        classify(self, qname, qtype)
    }
}

/// `response.Typify` (see [`Answer::class`]).
pub fn classify(a: &Answer, qname: &Name, qtype: RecordType) -> Class {
    if matches!(qtype, RecordType::AXFR | RecordType::IXFR) {
        return Class::Meta;
    }
    let rc = a.rcode;
    if !a.answers.is_empty() && rc == ResponseCode::NoError {
        if has_soa(a) && !answers_question(&a.answers, qname, qtype) {
            return Class::NoData;
        }
        return Class::NoError;
    }
    if !a.answers.is_empty() && rc == ResponseCode::NXDomain {
        return Class::OtherError;
    }
    let soa = has_soa(a);
    if soa && rc == ResponseCode::NoError {
        return Class::NoData;
    }
    if rc == ResponseCode::NXDomain {
        return Class::NameError;
    }
    if rc == ResponseCode::ServFail || rc == ResponseCode::NotImp {
        return Class::ServerError;
    }
    let ns = a
        .authority
        .iter()
        .any(|r| r.record_type() == RecordType::NS);
    if ns && rc == ResponseCode::NoError {
        return Class::Delegation;
    }
    if rc == ResponseCode::NoError {
        Class::NoError
    } else {
        Class::OtherError
    }
}
