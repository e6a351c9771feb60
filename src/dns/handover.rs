//! Socket handover: a replacement kdns takes over the running one's DNS sockets, so a restart
//! on the same host loses no query (hostNetwork and node-local deployments).
//!
//! A kdns started with `--handover PATH` offers its sockets on the Unix socket `PATH`. A new
//! kdns started with the same `PATH` asks there first: it receives duplicates of every DNS
//! socket (UDP sockets and TCP listeners, passed with `SCM_RIGHTS`) with the listen key each
//! belongs to, serves them at once beside the old process, and offers them in turn to its own
//! successor. When the old process stops it closes only its copies: the sockets, and every
//! datagram and connection queued in them, stay open in the new process. Without a running
//! kdns at `PATH` the new one binds its sockets itself.
use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::IpAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use socket2::{Socket, Type};
use tokio::sync::mpsc;

use super::server::Listeners;

/// Most descriptors one message carries (the kernel's `SCM_MAX_FD`).
const MAX_FDS: usize = 253;
/// Largest manifest accepted.
const MAX_MANIFEST: usize = 64 * 1024;

/// One listen key's sockets, by descriptor (borrowed from the serving sockets).
#[derive(Debug, Clone)]
pub(crate) struct Offered {
    /// The configured port (0: the port the first process was given).
    pub(crate) port: u16,
    /// The configured addresses (empty: every address).
    pub(crate) addrs: Vec<IpAddr>,
    /// The UDP sockets.
    pub(crate) udp: Vec<RawFd>,
    /// The TCP listeners (or, passing connections, the connections).
    pub(crate) tcp: Vec<RawFd>,
    /// Where TCP connections let go of by a stopping predecessor are served.
    pub(crate) adopt: Option<Adopter>,
}

/// Takes TCP connections to serve.
pub(crate) type Adopter = mpsc::UnboundedSender<std::net::TcpStream>;

impl Offered {
    /// What `l` would hand over (connections for it go nowhere until `adopt` is set).
    pub(crate) fn of(l: &Listeners) -> Self {
        Self {
            port: l.port,
            addrs: l.addrs.clone(),
            udp: l.udp.iter().map(|s| s.as_raw_fd()).collect(),
            tcp: l.tcp.iter().map(|s| s.as_raw_fd()).collect(),
            adopt: None,
        }
    }
}

/// What a process asks on the handover socket.
const ASK_SOCKETS: u8 = b'S';
/// What a stopping process says before passing its open TCP connections.
const GIVE_CONNECTIONS: u8 = b'C';

/// The sockets a running kdns offers; emptied before they close.
#[derive(Clone, Default)]
pub(crate) struct Offer {
    table: Arc<Mutex<Vec<Offered>>>,
    /// Served on a path (`--handover`).
    on: bool,
    /// A successor has taken the sockets.
    taken: Arc<std::sync::atomic::AtomicBool>,
}

impl Offer {
    /// Is the offer served (`--handover`)?
    pub(crate) fn is_on(&self) -> bool {
        self.on
    }

    /// Has a successor taken the sockets (it serves them on when this process stops)?
    pub(crate) fn taken(&self) -> bool {
        self.taken.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Offers `now` from here on (the sockets named must stay open until the next `set`).
    pub(crate) fn set(&self, now: Vec<Offered>) {
        *self.table.lock().unwrap_or_else(|e| e.into_inner()) = now;
    }

    /// Answers successors on `path` until the process ends: each gets every socket offered.
    /// `path` is taken over from any earlier process.
    pub(crate) fn serve(&mut self, path: &Path) -> io::Result<()> {
        self.on = true;
        let _ = std::fs::remove_file(path);
        let listener = UnixListener::bind(path)?;
        // Only this user may take the sockets (or pass connections in).
        std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
        let offer = self.clone();
        let path = path.to_path_buf();
        std::thread::Builder::new()
            .name("kdns-handover".into())
            .spawn(move || {
                for s in listener.incoming() {
                    if let Err(e) = s.and_then(|s| offer.answer(&s)) {
                        tracing::warn!(path = %path.display(), error = %e, "socket handover failed");
                    }
                }
            })?;
        Ok(())
    }

    /// One caller: a successor asking for the sockets, or a stopping predecessor passing
    /// its connections.
    fn answer(&self, s: &UnixStream) -> io::Result<()> {
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        s.set_write_timeout(Some(Duration::from_secs(5)))?;
        let mut ask = [0u8];
        (&*s).read_exact(&mut ask)?;
        match ask[0] {
            ASK_SOCKETS => {
                let n = self.send(s)?;
                self.taken.store(true, std::sync::atomic::Ordering::SeqCst);
                tracing::info!(sockets = n, "handed the DNS sockets to a new kdns");
            }
            GIVE_CONNECTIONS => {
                let n = self.adopt(s)?;
                tracing::info!(
                    connections = n,
                    "serving the open TCP connections of the old kdns"
                );
            }
            other => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("handover: unknown request {other}"),
                ))
            }
        }
        Ok(())
    }

    /// Receives connections and gives each to the port it belongs to.
    fn adopt(&self, s: &UnixStream) -> io::Result<usize> {
        let (lines, fds) = receive(s)?;
        let table = self.table.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let mut fds = fds.into_iter();
        let mut n = 0;
        for (key, udp, tcp) in lines {
            let adopt = table
                .iter()
                .find(|o| o.port == key.0 && o.addrs == key.1)
                .and_then(|o| o.adopt.clone());
            for fd in fds.by_ref().skip(udp).take(tcp) {
                let conn = std::net::TcpStream::from(fd);
                if adopt.as_ref().is_some_and(|a| a.send(conn).is_ok()) {
                    n += 1;
                }
            }
        }
        Ok(n)
    }

    fn send(&self, s: &UnixStream) -> io::Result<usize> {
        // Held while sending: the sockets named cannot close meanwhile.
        let offered = self.table.lock().unwrap_or_else(|e| e.into_inner());
        let (manifest, fds) = encode(&offered);
        if fds.len() > MAX_FDS {
            return Err(io::Error::other(format!(
                "{} sockets, more than one message carries ({MAX_FDS})",
                fds.len()
            )));
        }
        send_manifest(s, &manifest, &fds)?;
        Ok(fds.len())
    }
}

/// Sends the manifest with the descriptors attached.
fn send_manifest(s: &UnixStream, manifest: &str, fds: &[RawFd]) -> io::Result<()> {
    let mut msg = (manifest.len() as u32).to_be_bytes().to_vec();
    msg.extend_from_slice(manifest.as_bytes());
    let n = send_with_fds(s, &msg, fds)?;
    (&*s).write_all(&msg[n..])
}

/// Receives a manifest and its descriptors; checks that their numbers agree.
fn receive(s: &UnixStream) -> io::Result<(Vec<Line>, Vec<OwnedFd>)> {
    let mut buf = vec![0u8; 4 + MAX_MANIFEST];
    let (n, fds) = recv_with_fds(s, &mut buf)?;
    if n < 4 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "handover: short message",
        ));
    }
    let len = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    if len > MAX_MANIFEST {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "handover: manifest too large",
        ));
    }
    if n < 4 + len {
        (&*s).read_exact(&mut buf[n..4 + len])?;
    }
    let text = std::str::from_utf8(&buf[4..4 + len])
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    let lines = decode(text)?;
    let want: usize = lines.iter().map(|(_, u, t)| u + t).sum();
    if want != fds.len() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("handover: {} sockets for a manifest of {want}", fds.len()),
        ));
    }
    Ok((lines, fds))
}

/// Passes a stopping process's open TCP connections, by listen key, to the kdns now serving
/// `path` (its successor); returns how many were passed.
pub(crate) fn pass(path: &Path, conns: Vec<(Key, Vec<std::net::TcpStream>)>) -> io::Result<usize> {
    let s = UnixStream::connect(path)?;
    s.set_write_timeout(Some(Duration::from_secs(5)))?;
    let offered: Vec<Offered> = conns
        .iter()
        .map(|((port, addrs), c)| Offered {
            port: *port,
            addrs: addrs.clone(),
            udp: Vec::new(),
            tcp: c.iter().map(|c| c.as_raw_fd()).collect(),
            adopt: None,
        })
        .collect();
    let (manifest, fds) = encode(&offered);
    if fds.len() > MAX_FDS {
        return Err(io::Error::other(format!(
            "{} connections, more than one message carries ({MAX_FDS})",
            fds.len()
        )));
    }
    (&s).write_all(&[GIVE_CONNECTIONS])?;
    send_manifest(&s, &manifest, &fds)?;
    Ok(fds.len())
}

/// The manifest (one line per listen key: `port addrs udp tcp`) and the descriptors in order.
fn encode(offered: &[Offered]) -> (String, Vec<RawFd>) {
    let mut text = String::new();
    let mut fds = Vec::new();
    for o in offered {
        let addrs: Vec<String> = o.addrs.iter().map(|a| a.to_string()).collect();
        let addrs = if addrs.is_empty() {
            "*".to_string()
        } else {
            addrs.join(",")
        };
        text.push_str(&format!(
            "{} {addrs} {} {}\n",
            o.port,
            o.udp.len(),
            o.tcp.len()
        ));
        fds.extend_from_slice(&o.udp);
        fds.extend_from_slice(&o.tcp);
    }
    (text, fds)
}

/// A listen key: the configured port and addresses.
pub(crate) type Key = (u16, Vec<IpAddr>);

/// Sockets taken over, by listen key.
pub(crate) type Taken = HashMap<Key, Listeners>;

/// One manifest line: the key, and how many UDP then TCP descriptors follow.
type Line = (Key, usize, usize);

fn decode(text: &str) -> io::Result<Vec<Line>> {
    let bad = |l: &str| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("handover: bad line {l:?}"),
        )
    };
    let mut out = Vec::new();
    for l in text.lines() {
        let f: Vec<&str> = l.split(' ').collect();
        let [port, addrs, udp, tcp] = f[..] else {
            return Err(bad(l));
        };
        let addrs = if addrs == "*" {
            Vec::new()
        } else {
            addrs
                .split(',')
                .map(|a| a.parse().map_err(|_| bad(l)))
                .collect::<io::Result<_>>()?
        };
        let n = |s: &str| s.parse::<usize>().map_err(|_| bad(l));
        out.push(((port.parse().map_err(|_| bad(l))?, addrs), n(udp)?, n(tcp)?));
    }
    Ok(out)
}

/// The sockets of the kdns offering them on `path`, by listen key; `None` when no kdns
/// answers there (the first process).
pub(crate) fn take(path: &Path) -> io::Result<Option<Taken>> {
    let s = match UnixStream::connect(path) {
        Ok(s) => s,
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Ok(None)
        }
        Err(e) => return Err(e),
    };
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    (&s).write_all(&[ASK_SOCKETS])?;
    let (lines, fds) = receive(&s)?;
    listeners(lines, fds).map(Some)
}

/// Turns the received descriptors into listeners, checking each is the socket it claims.
fn listeners(lines: Vec<Line>, fds: Vec<OwnedFd>) -> io::Result<Taken> {
    let want: usize = lines.iter().map(|(_, u, t)| u + t).sum();
    if want != fds.len() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("handover: {} sockets for a manifest of {want}", fds.len()),
        ));
    }
    let mut fds = fds.into_iter();
    let mut out = HashMap::new();
    for (key, udp, tcp) in lines {
        let mut l = Listeners {
            port: key.0,
            addrs: key.1.clone(),
            udp: Vec::new(),
            tcp: Vec::new(),
        };
        for fd in fds.by_ref().take(udp) {
            let s = socket_of(fd, Type::DGRAM)?;
            l.udp.push(tokio::net::UdpSocket::from_std(s.into())?);
        }
        for fd in fds.by_ref().take(tcp) {
            let s = socket_of(fd, Type::STREAM)?;
            l.tcp.push(tokio::net::TcpListener::from_std(s.into())?);
        }
        out.insert(key, l);
    }
    Ok(out)
}

fn socket_of(fd: OwnedFd, ty: Type) -> io::Result<Socket> {
    let s = Socket::from(fd);
    if s.r#type()? != ty {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "handover: a socket of another type",
        ));
    }
    s.local_addr()?;
    s.set_nonblocking(true)?;
    Ok(s)
}

/// `sendmsg` with the descriptors attached to the first byte; returns the bytes sent.
fn send_with_fds(s: &UnixStream, data: &[u8], fds: &[RawFd]) -> io::Result<usize> {
    let payload = std::mem::size_of_val(fds);
    // SAFETY: CMSG_SPACE only computes a size.
    let space = unsafe { libc::CMSG_SPACE(payload as u32) } as usize;
    let mut control = vec![0u64; space.div_ceil(8)];
    let mut iov = libc::iovec {
        iov_base: data.as_ptr() as *mut libc::c_void,
        iov_len: data.len(),
    };
    // SAFETY: a zeroed msghdr is valid; every pointer set below outlives the sendmsg call,
    // and the control buffer (8-byte aligned) holds exactly one SCM_RIGHTS message.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        if !fds.is_empty() {
            msg.msg_control = control.as_mut_ptr().cast();
            msg.msg_controllen = space as _;
            let c = libc::CMSG_FIRSTHDR(&msg);
            (*c).cmsg_level = libc::SOL_SOCKET;
            (*c).cmsg_type = libc::SCM_RIGHTS;
            (*c).cmsg_len = libc::CMSG_LEN(payload as u32) as _;
            std::ptr::copy_nonoverlapping(fds.as_ptr().cast::<u8>(), libc::CMSG_DATA(c), payload);
        }
        let n = libc::sendmsg(s.as_raw_fd(), &msg, libc::MSG_NOSIGNAL);
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }
}

/// `recvmsg` into `buf`: the bytes read and the descriptors received (close-on-exec).
fn recv_with_fds(s: &UnixStream, buf: &mut [u8]) -> io::Result<(usize, Vec<OwnedFd>)> {
    // SAFETY: CMSG_SPACE only computes a size.
    let space = unsafe { libc::CMSG_SPACE((MAX_FDS * std::mem::size_of::<RawFd>()) as u32) };
    let mut control = vec![0u64; (space as usize).div_ceil(8)];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let mut fds = Vec::new();
    // SAFETY: as in `send_with_fds`; the kernel writes at most msg_controllen bytes of
    // control data, and each descriptor read from an SCM_RIGHTS message is new and ours.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = (control.len() * 8) as _;
        let n = libc::recvmsg(s.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC);
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                let bytes = (*c).cmsg_len as usize - libc::CMSG_LEN(0) as usize;
                let data = libc::CMSG_DATA(c).cast::<RawFd>();
                for i in 0..bytes / std::mem::size_of::<RawFd>() {
                    fds.push(OwnedFd::from_raw_fd(std::ptr::read_unaligned(data.add(i))));
                }
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
        if msg.msg_flags & libc::MSG_CTRUNC != 0 {
            return Err(io::Error::other("handover: descriptors cut off"));
        }
        Ok((n as usize, fds))
    }
}

#[cfg(test)]
mod tests;
