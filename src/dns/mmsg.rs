//! Batched UDP I/O for the UDP loop (`udp.rs`): on Linux, every datagram queued on a socket
//! (up to [`BATCH`]) is read with one `recvmmsg`, and a batch of answers is written with one
//! `sendmmsg`; elsewhere one datagram per call (`recv_from`, `send_to`).
//!
//! Both go through tokio's readiness ([`UdpSocket::try_io`]): a call that would block clears
//! it, so `readable()`/`writable()` wait for the kernel's next event. A short batch does not:
//! under load more datagrams arrive while a batch is answered, and reading them at once costs
//! less than the trip through `epoll` that clearing the readiness would take (measured: about
//! 0.5 `epoll_wait` per batch instead of 1.2).
use std::io;
use std::net::SocketAddr;

use socket2::SockAddr;
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

/// Datagrams read (and answers written) per system call at most.
pub(crate) const BATCH: usize = 32;
/// Room per received datagram; a longer one is cut to this, as `recv_from` into a buffer of
/// this size did.
pub(crate) const DATAGRAM: usize = 4096;

/// Received datagrams: their bytes and sources, reused from batch to batch.
pub(crate) struct Inbox {
    /// [`BATCH`] slots of [`DATAGRAM`] bytes.
    bufs: Box<[u8]>,
    lens: [usize; BATCH],
    srcs: [Option<SocketAddr>; BATCH],
    /// Where `recvmmsg` writes the sources.
    #[cfg(target_os = "linux")]
    names: Box<[socket2::SockAddrStorage]>,
}

impl Inbox {
    pub(crate) fn new() -> Self {
        Self {
            bufs: vec![0u8; BATCH * DATAGRAM].into_boxed_slice(),
            lens: [0; BATCH],
            srcs: [None; BATCH],
            #[cfg(target_os = "linux")]
            names: (0..BATCH)
                .map(|_| socket2::SockAddrStorage::zeroed())
                .collect(),
        }
    }

    /// Reads what is queued on `sock` without waiting: how many datagrams (at least one), or
    /// `WouldBlock` when none is (then `sock.readable()` waits for more), or the socket's error
    /// (an ICMP error of an earlier send on some systems).
    pub(crate) fn recv(&mut self, sock: &UdpSocket) -> io::Result<usize> {
        #[cfg(target_os = "linux")]
        return self.recv_many(sock);
        #[cfg(not(target_os = "linux"))]
        return self.recv_one(sock);
    }

    /// Datagram `i` of the last [`Inbox::recv`] and its source; None when the source is not an
    /// IP address (never on a UDP socket).
    pub(crate) fn get(&self, i: usize) -> Option<(&[u8], SocketAddr)> {
        let src = self.srcs.get(i).copied().flatten()?;
        Some((&self.bufs[i * DATAGRAM..i * DATAGRAM + self.lens[i]], src))
    }

    /// One datagram with `recv_from` (the other systems; tests).
    #[cfg(any(not(target_os = "linux"), test))]
    fn recv_one(&mut self, sock: &UdpSocket) -> io::Result<usize> {
        let (n, src) = sock.try_recv_from(&mut self.bufs[..DATAGRAM])?;
        self.lens[0] = n;
        self.srcs[0] = Some(src);
        Ok(1)
    }

    /// `recvmmsg` through tokio's readiness.
    #[cfg(target_os = "linux")]
    fn recv_many(&mut self, sock: &UdpSocket) -> io::Result<usize> {
        use std::os::fd::AsRawFd;
        let fd = sock.as_raw_fd();
        sock.try_io(Interest::READABLE, || self.recvmmsg(fd))
    }

    /// One `recvmmsg` without waiting into every slot: how many datagrams arrived.
    #[cfg(target_os = "linux")]
    fn recvmmsg(&mut self, fd: std::os::fd::RawFd) -> io::Result<usize> {
        // One pointer into `bufs`, offset per slot (no reborrow of the buffer per slot).
        let base = self.bufs.as_mut_ptr();
        let mut iovs: [libc::iovec; BATCH] = std::array::from_fn(|i| libc::iovec {
            iov_base: base.wrapping_add(i * DATAGRAM).cast(),
            iov_len: DATAGRAM,
        });
        // SAFETY: all zeros is a valid mmsghdr (null pointers, zero lengths).
        let mut msgs: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
        for ((m, iov), name) in msgs.iter_mut().zip(&mut iovs).zip(self.names.iter_mut()) {
            m.msg_hdr.msg_iov = iov;
            m.msg_hdr.msg_iovlen = 1;
            m.msg_hdr.msg_name = (name as *mut socket2::SockAddrStorage).cast();
            m.msg_hdr.msg_namelen = name.size_of();
        }
        // SAFETY: every pointer in `msgs` (its iovecs, their slots of `bufs`, the `names`) is
        // valid and unaliased for the call, and each length is its buffer's; MSG_DONTWAIT: the
        // call never blocks; a null timeout is allowed.
        let n = unsafe {
            libc::recvmmsg(
                fd,
                msgs.as_mut_ptr(),
                BATCH as _,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let n = n as usize;
        for (i, m) in msgs.iter().enumerate().take(n) {
            self.lens[i] = (m.msg_len as usize).min(DATAGRAM);
            let storage = std::mem::replace(&mut self.names[i], socket2::SockAddrStorage::zeroed());
            // SAFETY: the kernel wrote an address of `msg_namelen` bytes of its family there.
            let name = unsafe { SockAddr::new(storage, m.msg_hdr.msg_namelen) };
            self.srcs[i] = name.as_socket();
        }
        Ok(n)
    }
}

/// Answers to send: their bytes and destinations, reused from batch to batch.
#[derive(Default)]
pub(crate) struct Outbox {
    bufs: Vec<Vec<u8>>,
    dsts: Vec<SockAddr>,
    len: usize,
}

impl Outbox {
    /// A cleared buffer for one more answer to `dst`.
    pub(crate) fn push(&mut self, dst: SocketAddr) -> &mut Vec<u8> {
        if self.len == self.bufs.len() {
            self.bufs.push(Vec::with_capacity(512));
            self.dsts.push(dst.into());
        } else {
            self.dsts[self.len] = dst.into();
        }
        self.len += 1;
        let buf = &mut self.bufs[self.len - 1];
        buf.clear();
        buf
    }

    /// Answers waiting to be sent.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.len
    }

    /// Sends every answer, in order, then empties the box. When the socket's send buffer is
    /// full, waits until it can be written (or `stop`: the rest are not sent, and logged). An
    /// answer the kernel refuses (no route, a firewall) is skipped, and logged at debug, as a
    /// failed `send_to` was.
    pub(crate) async fn flush(&mut self, sock: &UdpSocket, stop: &CancellationToken) {
        let mut at = 0;
        while at < self.len {
            match self.send(sock, at) {
                Ok(n) => at += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    tokio::select! {
                        r = sock.writable() => if let Err(e) = r {
                            tracing::debug!(error = %e, unsent = self.len - at, "udp send");
                            break;
                        },
                        _ = stop.cancelled() => {
                            tracing::debug!(unsent = self.len - at, "udp send: stopping");
                            break;
                        }
                    }
                }
                Err(e) => {
                    let to = self.dsts[at].as_socket();
                    tracing::debug!(error = %e, to = ?to, "udp send");
                    at += 1;
                }
            }
        }
        self.len = 0;
    }

    /// Sends answers `at..` without waiting: how many went (at least one), or the error of
    /// answer `at`.
    fn send(&self, sock: &UdpSocket, at: usize) -> io::Result<usize> {
        #[cfg(target_os = "linux")]
        let sent = self.send_many(sock, at);
        #[cfg(not(target_os = "linux"))]
        let sent = self.send_each(sock, at);
        match sent {
            // Not seen: both send one or fail. Skipped as an error, never a loop.
            Ok(0) => Err(io::Error::other("nothing sent")),
            r => r,
        }
    }

    /// One `send_to` per answer (the other systems; tests); stops at the first error.
    #[cfg(any(not(target_os = "linux"), test))]
    fn send_each(&self, sock: &UdpSocket, at: usize) -> io::Result<usize> {
        for i in at..self.len {
            let sent = match self.dsts[i].as_socket() {
                Some(dst) => sock.try_send_to(&self.bufs[i], dst),
                None => Err(io::ErrorKind::InvalidInput.into()),
            };
            if let Err(e) = sent {
                return if i == at { Err(e) } else { Ok(i - at) };
            }
        }
        Ok(self.len - at)
    }

    /// `sendmmsg` of answers `at..` (at most [`BATCH`]) through tokio's readiness.
    #[cfg(target_os = "linux")]
    fn send_many(&self, sock: &UdpSocket, at: usize) -> io::Result<usize> {
        use std::os::fd::AsRawFd;
        let n = (self.len - at).min(BATCH);
        let mut iovs: [libc::iovec; BATCH] = std::array::from_fn(|i| libc::iovec {
            iov_base: self
                .bufs
                .get(at + i)
                .map_or(std::ptr::null_mut(), |b| b.as_ptr().cast_mut().cast()),
            iov_len: self.bufs.get(at + i).map_or(0, Vec::len),
        });
        // SAFETY: all zeros is a valid mmsghdr (null pointers, zero lengths).
        let mut msgs: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
        for ((m, iov), dst) in msgs.iter_mut().zip(&mut iovs).zip(&self.dsts[at..]).take(n) {
            m.msg_hdr.msg_iov = iov;
            m.msg_hdr.msg_iovlen = 1;
            m.msg_hdr.msg_name = dst.as_ptr().cast_mut().cast();
            m.msg_hdr.msg_namelen = dst.len();
        }
        let fd = sock.as_raw_fd();
        sock.try_io(Interest::WRITABLE, || {
            // SAFETY: the first `n` entries of `msgs` point at live answers and addresses of
            // their stated lengths, which the kernel only reads; MSG_DONTWAIT: never blocks.
            let sent = unsafe { libc::sendmmsg(fd, msgs.as_mut_ptr(), n as _, libc::MSG_DONTWAIT) };
            if sent < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(sent as usize)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket as StdSocket;
    use std::time::Duration;

    async fn server(addr: &str) -> UdpSocket {
        UdpSocket::bind(addr).await.unwrap()
    }

    fn client(addr: &str) -> StdSocket {
        let c = StdSocket::bind(addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        c
    }

    /// Waits for readiness, then reads until `want` datagrams came; the batch sizes.
    async fn recv_all(inbox: &mut Inbox, s: &UdpSocket, want: usize) -> Vec<(Vec<u8>, SocketAddr)> {
        let mut got = Vec::new();
        while got.len() < want {
            s.readable().await.unwrap();
            match inbox.recv(s) {
                Ok(n) => got.extend((0..n).map(|i| {
                    let (b, src) = inbox.get(i).unwrap();
                    (b.to_vec(), src)
                })),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("recv: {e}"),
            }
        }
        got
    }

    /// One `recvmmsg` reads every queued datagram, each with its own source and length.
    #[tokio::test]
    async fn one_call_reads_every_queued_datagram_with_its_source() {
        let s = server("127.0.0.1:0").await;
        let to = s.local_addr().unwrap();
        let (a, b) = (client("127.0.0.1:0"), client("127.0.0.1:0"));
        for i in 0..5u8 {
            a.send_to(&vec![i; 10 + usize::from(i)], to).unwrap();
            b.send_to(&[100 + i], to).unwrap();
        }
        s.readable().await.unwrap();
        let mut inbox = Inbox::new();
        let n = inbox.recv(&s).unwrap();
        assert_eq!(n, 10, "all queued datagrams in one call");
        for i in 0..5u8 {
            let (bytes, src) = inbox.get(2 * usize::from(i)).unwrap();
            assert_eq!(
                (bytes, src),
                (&vec![i; 10 + usize::from(i)][..], a.local_addr().unwrap())
            );
            let (bytes, src) = inbox.get(2 * usize::from(i) + 1).unwrap();
            assert_eq!((bytes, src), (&[100 + i][..], b.local_addr().unwrap()));
        }
        // Drained: the next call finds nothing (and clears the readiness), without waiting.
        assert_eq!(
            inbox.recv(&s).unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
        // A later datagram wakes the socket again.
        a.send_to(b"later", to).unwrap();
        let got = tokio::time::timeout(Duration::from_secs(5), recv_all(&mut inbox, &s, 1));
        let got = got
            .await
            .expect("a datagram after the queue was drained is seen");
        assert_eq!(got, vec![(b"later".to_vec(), a.local_addr().unwrap())]);
    }

    /// More than a batch queued: full batches, then the rest; nothing lost or reordered; a
    /// datagram longer than a slot is cut to it.
    #[tokio::test]
    async fn more_than_a_batch_comes_in_several() {
        let s = server("127.0.0.1:0").await;
        let to = s.local_addr().unwrap();
        let c = client("127.0.0.1:0");
        let total = 2 * BATCH + 3;
        for i in 0..total {
            c.send_to(&(i as u32).to_be_bytes(), to).unwrap();
        }
        c.send_to(&vec![7u8; DATAGRAM + 100], to).unwrap();
        s.readable().await.unwrap();
        let mut inbox = Inbox::new();
        assert_eq!(inbox.recv(&s).unwrap(), BATCH, "a full batch first");
        let mut got: Vec<Vec<u8>> = (0..BATCH)
            .map(|i| inbox.get(i).unwrap().0.to_vec())
            .collect();
        let rest = recv_all(&mut inbox, &s, total + 1 - BATCH).await;
        got.extend(rest.into_iter().map(|(b, _)| b));
        let want: Vec<Vec<u8>> = (0..total)
            .map(|i| (i as u32).to_be_bytes().to_vec())
            .collect();
        assert_eq!(got[..total], want[..]);
        assert_eq!(got[total], vec![7u8; DATAGRAM]);
    }

    /// IPv6 sources come through whole (address and port).
    #[tokio::test]
    async fn ipv6_sources() {
        let Ok(s) = UdpSocket::bind("[::1]:0").await else {
            return; // no IPv6 here
        };
        let c = client("[::1]:0");
        c.send_to(b"six", s.local_addr().unwrap()).unwrap();
        let got = recv_all(&mut Inbox::new(), &s, 1).await;
        assert_eq!(got, vec![(b"six".to_vec(), c.local_addr().unwrap())]);
        assert!(got[0].1.is_ipv6());
    }

    fn answers(out: &mut Outbox, to: &[SocketAddr]) {
        for (i, dst) in to.iter().enumerate() {
            out.push(*dst)
                .extend_from_slice(format!("answer {i}").as_bytes());
        }
    }

    fn read(c: &StdSocket) -> String {
        let mut buf = [0u8; 64];
        let (n, _) = c.recv_from(&mut buf).unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    /// One flush delivers every answer to its own destination, in order; one the kernel
    /// refuses (port 0, another family) is skipped, not the ones after it.
    #[tokio::test]
    async fn a_batch_send_delivers_every_answer_to_its_destination() {
        let s = server("127.0.0.1:0").await;
        let (a, b) = (client("127.0.0.1:0"), client("127.0.0.1:0"));
        let (aa, ba) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        let bad: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let v6: SocketAddr = "[::1]:53".parse().unwrap();
        let mut out = Outbox::default();
        for round in 0..2 {
            // The second round reuses the buffers.
            answers(&mut out, &[aa, ba, bad, aa, v6, ba]);
            assert_eq!(out.len(), 6);
            out.flush(&s, &CancellationToken::new()).await;
            assert_eq!(out.len(), 0);
            assert_eq!(
                (read(&a), read(&a)),
                ("answer 0".into(), "answer 3".into()),
                "{round}"
            );
            assert_eq!(
                (read(&b), read(&b)),
                ("answer 1".into(), "answer 5".into()),
                "{round}"
            );
        }
    }

    /// More answers than one `sendmmsg` takes: all go.
    #[tokio::test]
    async fn more_answers_than_a_batch() {
        let s = server("127.0.0.1:0").await;
        let c = client("127.0.0.1:0");
        let mut out = Outbox::default();
        answers(&mut out, &vec![c.local_addr().unwrap(); 3 * BATCH + 1]);
        out.flush(&s, &CancellationToken::new()).await;
        for i in 0..3 * BATCH + 1 {
            assert_eq!(read(&c), format!("answer {i}"));
        }
    }

    /// The one-datagram calls of the other systems behave alike.
    #[tokio::test]
    async fn the_one_datagram_fallback() {
        let s = server("127.0.0.1:0").await;
        let c = client("127.0.0.1:0");
        c.send_to(b"q1", s.local_addr().unwrap()).unwrap();
        c.send_to(b"q2", s.local_addr().unwrap()).unwrap();
        let mut inbox = Inbox::new();
        s.readable().await.unwrap();
        for want in [&b"q1"[..], b"q2"] {
            assert_eq!(inbox.recv_one(&s).unwrap(), 1);
            assert_eq!(inbox.get(0).unwrap(), (want, c.local_addr().unwrap()));
        }
        assert_eq!(
            inbox.recv_one(&s).unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
        let mut out = Outbox::default();
        let bad: SocketAddr = "127.0.0.1:0".parse().unwrap();
        answers(
            &mut out,
            &[c.local_addr().unwrap(), bad, c.local_addr().unwrap()],
        );
        assert_eq!(out.send_each(&s, 0).unwrap(), 1, "stops at the refused one");
        assert!(out.send_each(&s, 1).is_err());
        assert_eq!(out.send_each(&s, 2).unwrap(), 1);
        assert_eq!((read(&c), read(&c)), ("answer 0".into(), "answer 2".into()));
    }
}
