//! Response codes and query types as CoreDNS prints them (miekg/dns names), for metrics labels
//! and logs.
use std::borrow::Cow;

use hickory_server::proto::op::ResponseCode;
use hickory_server::proto::rr::RecordType;

/// `NOERROR`, `NXDOMAIN`, … or the number (miekg/dns `RcodeToString`).
pub fn rcode_name(code: u16) -> Cow<'static, str> {
    Cow::Borrowed(match code {
        0 => "NOERROR",
        1 => "FORMERR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        6 => "YXDOMAIN",
        7 => "YXRRSET",
        8 => "NXRRSET",
        9 => "NOTAUTH",
        10 => "NOTZONE",
        16 => "BADSIG",
        17 => "BADKEY",
        18 => "BADTIME",
        19 => "BADMODE",
        20 => "BADNAME",
        21 => "BADALG",
        22 => "BADTRUNC",
        23 => "BADCOOKIE",
        n => return Cow::Owned(n.to_string()),
    })
}

/// The miekg/dns name of a response code ([`rcode_name`] of its number).
pub fn rcode_text(r: ResponseCode) -> Cow<'static, str> {
    rcode_name(u16::from(r))
}

/// Parses an RCODE name as CoreDNS accepts it in `next` and `failover` (case-insensitive).
pub fn parse_rcode(s: &str) -> Option<ResponseCode> {
    let up = s.to_ascii_uppercase();
    (0..=23u16)
        .find(|c| rcode_name(*c) == up.as_str())
        .map(|c| ResponseCode::from(0, c as u8))
}

/// A small dense index for a response code (for lock-free per-rcode series): 0..=23, 24 for
/// anything else.
pub const RCODE_SLOTS: usize = 25;
/// The slot of a response code among the [`RCODE_SLOTS`]: the code itself up to 23, else 24.
pub fn rcode_slot(code: u16) -> usize {
    usize::from(code.min(24))
}

/// The query types CoreDNS counts by name in `coredns_dns_requests_total`; others are `other`.
pub const MONITORED_TYPES: &[RecordType] = &[
    RecordType::AAAA,
    RecordType::A,
    RecordType::CNAME,
    RecordType::DNSKEY,
    RecordType::DS,
    RecordType::MX,
    RecordType::NSEC3,
    RecordType::NSEC,
    RecordType::NS,
    RecordType::PTR,
    RecordType::RRSIG,
    RecordType::SOA,
    RecordType::SRV,
    RecordType::TXT,
    RecordType::HTTPS,
    RecordType::SVCB,
    RecordType::IXFR,
    RecordType::AXFR,
    RecordType::ANY,
];
/// Number of per-type slots: one per [`MONITORED_TYPES`] entry plus one for `other`.
pub const TYPE_SLOTS: usize = MONITORED_TYPES.len() + 1;

/// Index into [`MONITORED_TYPES`], or the last slot for `other`.
pub fn type_slot(t: RecordType) -> usize {
    MONITORED_TYPES
        .iter()
        .position(|m| *m == t)
        .unwrap_or(MONITORED_TYPES.len())
}

/// The `type` metrics label of a slot: the type's name, or `other` for the last slot.
pub fn type_slot_name(slot: usize) -> String {
    MONITORED_TYPES
        .get(slot)
        .map(|t| t.to_string())
        .unwrap_or_else(|| "other".to_string())
}

/// The type as miekg/dns prints it: its mnemonic, or `TYPE123` when it has none.
pub fn type_text(t: RecordType) -> String {
    match t {
        RecordType::Unknown(n) => format!("TYPE{n}"),
        t => t.to_string(),
    }
}

/// A type by its miekg/dns mnemonic (`StringToType`: upper case, as written), including the
/// ones hickory has no name for (`IXFR`, `MAILB`, `SPF`, …).
pub fn type_from_name(s: &str) -> Option<RecordType> {
    if s.bytes().any(|b| b.is_ascii_lowercase()) || s.starts_with("TYPE") {
        return None;
    }
    match s.parse::<RecordType>() {
        Ok(RecordType::Unknown(_)) | Err(_) => MORE_TYPES
            .iter()
            .find(|(n, _)| *n == s)
            .map(|(_, code)| RecordType::from(*code)),
        Ok(t) => Some(t),
    }
}

/// Types Go's `dns.StringToType` knows that hickory does not name.
const MORE_TYPES: &[(&str, u16)] = &[
    ("MD", 3),
    ("MF", 4),
    ("MB", 7),
    ("MG", 8),
    ("MR", 9),
    ("MINFO", 14),
    ("RP", 17),
    ("AFSDB", 18),
    ("X25", 19),
    ("ISDN", 20),
    ("RT", 21),
    ("NSAPPTR", 23),
    ("PX", 26),
    ("GPOS", 27),
    ("LOC", 29),
    ("NXT", 30),
    ("EID", 31),
    ("NIMLOC", 32),
    ("ATMA", 34),
    ("KX", 36),
    ("OPT", 41),
    ("APL", 42),
    ("IPSECKEY", 45),
    ("DHCID", 49),
    ("HIP", 55),
    ("NINFO", 56),
    ("RKEY", 57),
    ("TALINK", 58),
    ("ZONEMD", 63),
    ("SPF", 99),
    ("UINFO", 100),
    ("UID", 101),
    ("GID", 102),
    ("UNSPEC", 103),
    ("NID", 104),
    ("L32", 105),
    ("L64", 106),
    ("LP", 107),
    ("EUI48", 108),
    ("EUI64", 109),
    ("NXNAME", 128),
    ("TKEY", 249),
    ("IXFR", 251),
    ("MAILB", 253),
    ("MAILA", 254),
    ("URI", 256),
    ("AVC", 258),
    ("AMTRELAY", 260),
    ("RESINFO", 261),
    ("TA", 32768),
    ("DLV", 32769),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_names_as_miekg() {
        assert_eq!(type_from_name("AAAA"), Some(RecordType::AAAA));
        assert_eq!(type_from_name("IXFR"), Some(RecordType::IXFR));
        assert_eq!(type_from_name("SPF"), Some(RecordType::from(99u16)));
        for bad in ["aaaa", "TYPE1", "", "NOPE"] {
            assert_eq!(type_from_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn names() {
        assert_eq!(rcode_name(3), "NXDOMAIN");
        assert_eq!(rcode_name(99), "99");
        assert_eq!(parse_rcode("servfail"), Some(ResponseCode::ServFail));
        assert_eq!(parse_rcode("NXDOMAIN"), Some(ResponseCode::NXDomain));
        assert_eq!(parse_rcode("nope"), None);
        assert_eq!(type_slot_name(type_slot(RecordType::A)), "A");
        assert_eq!(type_slot_name(type_slot(RecordType::HINFO)), "other");
        assert_eq!(type_text(RecordType::Unknown(65280)), "TYPE65280");
        assert_eq!(type_text(RecordType::HINFO), "HINFO");
        assert_eq!(rcode_slot(5), 5);
        assert_eq!(rcode_slot(4000), 24);
    }
}
