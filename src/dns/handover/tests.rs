//! Unit tests of the handover: the manifest, and real sockets passed over a Unix socket.
use super::*;

#[test]
fn manifest_round_trips() {
    let offered = vec![
        Offered {
            port: 53,
            addrs: vec![],
            udp: vec![7, 8],
            tcp: vec![9],
            adopt: None,
        },
        Offered {
            port: 0,
            addrs: vec!["127.0.0.1".parse().unwrap(), "::1".parse().unwrap()],
            udp: vec![10],
            tcp: vec![11, 12],
            adopt: None,
        },
    ];
    let (text, fds) = encode(&offered);
    assert_eq!(fds, vec![7, 8, 9, 10, 11, 12]);
    let lines = decode(&text).unwrap();
    assert_eq!(
        lines,
        vec![((53, vec![]), 2, 1), ((0, offered[1].addrs.clone()), 1, 2)]
    );
    for bad in ["53 * 1\n", "x * 1 1\n", "53 nope 1 1\n", "53 * -1 1\n"] {
        assert!(decode(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn no_kdns_at_the_path_is_not_an_error() {
    let dir = tempfile::tempdir().unwrap();
    assert!(take(&dir.path().join("none")).unwrap().is_none());
}

/// The sockets taken are the very sockets offered: a datagram queued before the handover is
/// read from the copy, and the old copy's close does not lose it.
#[tokio::test]
async fn a_successor_gets_the_same_sockets() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("handover");
    let l = super::super::server::bind(0, &["127.0.0.1".parse().unwrap()]).unwrap();
    let addr = l.udp[0].local_addr().unwrap();
    let mut offer = Offer::default();
    offer.set(vec![Offered::of(&l)]);
    offer.serve(&path).unwrap();
    let client = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    client.send_to(b"queued before the handover", addr).unwrap();
    let mut got = tokio::task::spawn_blocking(move || take(&path))
        .await
        .unwrap()
        .unwrap()
        .expect("the offer answers");
    offer.set(Vec::new());
    let udp_count = l.udp.len();
    drop(l); // the old process's copies close
    let taken = got
        .remove(&(0, vec!["127.0.0.1".parse().unwrap()]))
        .unwrap();
    assert_eq!(taken.udp.len(), udp_count);
    assert_eq!(taken.tcp.len(), 1);
    assert_eq!(taken.tcp[0].local_addr().unwrap().port(), addr.port());
    let mut buf = [0u8; 64];
    let mut read = None;
    for s in &taken.udp {
        let got = tokio::time::timeout(Duration::from_millis(200), s.recv_from(&mut buf)).await;
        if let Ok(Ok((n, _))) = got {
            read = Some(buf[..n].to_vec());
        }
    }
    assert_eq!(read.as_deref(), Some(&b"queued before the handover"[..]));
}
