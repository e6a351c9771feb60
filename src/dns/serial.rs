//! Where a negative answer's SOA serial sits in its encoded response, so that the UDP packet
//! cache can replay the answer with the zone's current serial (see `udp.rs`).

/// The offset of the SOA serial in `msg`, a response whose question ends at `question_end`,
/// when `msg` is a negative answer: no answer records, and one authority record, an SOA.
/// `None` for anything else (nothing is replayed then).
pub(super) fn soa_serial_at(msg: &[u8], question_end: usize) -> Option<usize> {
    let count = |i: usize| Some(u16::from_be_bytes([*msg.get(i)?, *msg.get(i + 1)?]));
    if count(6)? != 0 || count(8)? != 1 {
        return None;
    }
    let at = skip_name(msg, question_end)?;
    let fixed = msg.get(at..at + 10)?;
    if fixed[0..2] != [0, 6] {
        return None; // not an SOA
    }
    let rdlen = u16::from_be_bytes([fixed[8], fixed[9]]) as usize;
    let rdata = at + 10;
    let serial = skip_name(msg, skip_name(msg, rdata)?)?;
    // serial, refresh, retry, expire, minimum: 20 bytes, the rest of the RDATA.
    (serial + 20 == rdata + rdlen && rdata + rdlen <= msg.len()).then_some(serial)
}

/// The offset just past the (possibly compressed) name at `at` in `msg`.
fn skip_name(msg: &[u8], mut at: usize) -> Option<usize> {
    loop {
        let len = *msg.get(at)? as usize;
        match len & 0xc0 {
            0 if len == 0 => return Some(at + 1),
            0 => at += 1 + len,
            0xc0 => return msg.get(at + 1).map(|_| at + 2),
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_server::proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
    use hickory_server::proto::rr::rdata::SOA;
    use hickory_server::proto::rr::{Name, RData, Record, RecordType};

    fn negative(serial: u32, answer: bool) -> (Vec<u8>, usize) {
        let zone = Name::from_ascii("cluster.local.").unwrap();
        let q = Name::from_ascii("nope.ns.svc.cluster.local.").unwrap();
        let mut m = Message::new(7, MessageType::Response, OpCode::Query);
        m.metadata.response_code = ResponseCode::NXDomain;
        m.add_query(Query::query(q.clone(), RecordType::A));
        let soa = SOA::new(
            Name::from_ascii("ns.dns.cluster.local.").unwrap(),
            Name::from_ascii("hostmaster.cluster.local.").unwrap(),
            serial,
            7200,
            1800,
            86400,
            5,
        );
        m.add_authority(Record::from_rdata(zone, 5, RData::SOA(soa)));
        if answer {
            m.add_answer(Record::from_rdata(
                q,
                5,
                RData::A("10.0.0.1".parse().unwrap()),
            ));
        }
        let bytes = m.to_vec().unwrap();
        // The question: header, the name's 27 bytes, type and class.
        (bytes, 12 + 27 + 4)
    }

    #[test]
    fn finds_the_serial_of_a_negative_answer() {
        let (mut bytes, qend) = negative(0x0102_0304, false);
        let at = soa_serial_at(&bytes, qend).expect("an SOA");
        assert_eq!(bytes[at..at + 4], [1, 2, 3, 4]);
        bytes[at..at + 4].copy_from_slice(&77u32.to_be_bytes());
        let m = Message::from_vec(&bytes).unwrap();
        match &m.authorities[0].data {
            RData::SOA(soa) => assert_eq!((soa.serial, soa.minimum), (77, 5)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn anything_else_has_none() {
        let (bytes, qend) = negative(9, true);
        assert_eq!(soa_serial_at(&bytes, qend), None, "an answer record");
        let (bytes, qend) = negative(9, false);
        for cut in 0..bytes.len() {
            assert_eq!(soa_serial_at(&bytes[..cut], qend), None, "cut at {cut}");
        }
        assert_eq!(soa_serial_at(&bytes, qend + 1), None, "misaligned");
    }
}
