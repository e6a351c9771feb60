//! The benchmark ceiling: a minimal DNS-over-UDP "server" that answers every query with a fixed
//! A record (192.0.2.1, TTL 5) and nothing else — no parsing beyond the question, no zone, no
//! allocation per packet. One thread, one socket, blocking `recv_from`/`send_to`: the cost of the
//! kernel's UDP path plus the smallest possible DNS work. `bench/run.sh` pins it to the same core
//! as the servers it compares.
//!
//! ```text
//! cargo run --release --example udp_echo -- 127.0.0.1:15300
//! dig @127.0.0.1 -p 15300 anything.example +short    # 192.0.2.1
//! ```
use std::net::UdpSocket;

fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:15300".into());
    let sock = UdpSocket::bind(&addr)?;
    eprintln!("udp_echo: listening on {}", sock.local_addr()?);
    let mut buf = [0u8; 4096];
    loop {
        let (n, peer) = match sock.recv_from(&mut buf[..512]) {
            Ok(x) => x,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if let Some(len) = answer(&mut buf, n) {
            let _ = sock.send_to(&buf[..len], peer);
        }
    }
}

/// Rewrites the query in `buf[..n]` into its answer in place; returns the answer's length.
/// The question is kept as sent (name, type, class); any EDNS OPT record is dropped.
fn answer(buf: &mut [u8], n: usize) -> Option<usize> {
    if n < 12 || buf[2] & 0x80 != 0 || u16::from_be_bytes([buf[4], buf[5]]) != 1 {
        return None; // not a one-question query
    }
    // Skip the question name (uncompressed labels), then type and class.
    let mut i = 12;
    loop {
        let l = *buf.get(i)? as usize;
        i += 1;
        if l == 0 {
            break;
        }
        if l & 0xC0 != 0 {
            return None;
        }
        i += l;
    }
    let qend = i + 4;
    if qend > n {
        return None;
    }
    buf[2] = 0x84 | (buf[2] & 0x01); // QR, AA, keep RD
    buf[3] = 0x00; // RA=0, NOERROR
    buf[6..12].copy_from_slice(&[0, 1, 0, 0, 0, 0]); // ANCOUNT 1, NSCOUNT 0, ARCOUNT 0
    let rr: [u8; 16] = [
        0xC0, 0x0C, // name: pointer to the question
        0, 1, 0, 1, // A, IN
        0, 0, 0, 5, // TTL 5
        0, 4, 192, 0, 2, 1, // RDATA
    ];
    buf[qend..qend + rr.len()].copy_from_slice(&rr);
    Some(qend + rr.len())
}
