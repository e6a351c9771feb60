//! DNS over TCP: accepting, one task per connection answering its queries in order, and
//! connections handed over between processes at a message boundary (see `handover.rs`).
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::query::Proto;
use super::respond::Responder;

/// Writes one message with its length prefix; `false` (nothing written) when it is over
/// 64 KiB, which a length prefix cannot say.
async fn send(s: &mut TcpStream, msg: &[u8]) -> io::Result<bool> {
    let Ok(n) = u16::try_from(msg.len()) else {
        return Ok(false);
    };
    let mut framed = Vec::with_capacity(msg.len() + 2);
    framed.extend_from_slice(&n.to_be_bytes());
    framed.extend_from_slice(msg);
    s.write_all(&framed).await?;
    Ok(true)
}

/// A TCP connection with no query for this long is closed.
const TCP_IDLE: Duration = Duration::from_secs(10);

/// Connections a stopping server let go of between two queries, for a successor to serve.
pub(crate) type Released = Arc<Mutex<Vec<std::net::TcpStream>>>;

/// What the TCP tasks of one port share.
#[derive(Clone)]
pub(crate) struct Conns {
    pub(crate) responder: Arc<Responder>,
    pub(crate) stop: CancellationToken,
    pub(crate) tasks: TaskTracker,
    pub(crate) released: Released,
}

impl Conns {
    fn spawn(&self, s: TcpStream, src: SocketAddr) {
        // Over the port's bound of open connections (`load.rs`): closed at once.
        let Some(permit) = self.responder.load.connect() else {
            drop(s);
            return;
        };
        let c = self.clone();
        self.tasks.spawn(async move {
            let _permit = permit;
            if let Err(e) = c.serve(s, src).await {
                tracing::debug!(error = %e, %src, "tcp connection ended");
            }
        });
    }

    /// Accepts connections on `l` until stopped.
    pub(crate) async fn accept(self, l: TcpListener) {
        loop {
            let got = tokio::select! {
                _ = self.stop.cancelled() => return,
                g = l.accept() => g,
            };
            match got {
                Ok((s, src)) => self.spawn(s, src),
                Err(e) => {
                    tracing::warn!(error = %e, "tcp accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    /// Serves connections another process let go of (received until stopped).
    pub(crate) async fn adopt(self, mut rx: mpsc::UnboundedReceiver<std::net::TcpStream>) {
        loop {
            let got = tokio::select! {
                _ = self.stop.cancelled() => return,
                g = rx.recv() => g,
            };
            let Some(s) = got else { return };
            let adopted = s
                .set_nonblocking(true)
                .and_then(|_| TcpStream::from_std(s))
                .and_then(|s| s.peer_addr().map(|a| (s, a)));
            match adopted {
                Ok((s, src)) => self.spawn(s, src),
                Err(e) => tracing::debug!(error = %e, "an adopted tcp connection was unusable"),
            }
        }
    }

    /// Queries on one connection, answered in order; closes when idle or at EOF. On stop the
    /// connection is let go of between two queries (see [`Released`]): bytes the client sent
    /// meanwhile stay in the socket for whoever serves it next.
    async fn serve(&self, mut s: TcpStream, src: SocketAddr) -> io::Result<()> {
        let local = s.local_addr()?;
        let _ = s.set_nodelay(true);
        loop {
            let Some(len) = self.next_length(&mut s).await? else {
                return Ok(());
            };
            let mut raw = vec![0u8; usize::from(len)];
            tokio::time::timeout(TCP_IDLE, s.read_exact(&mut raw))
                .await
                .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "reading a query"))??;
            let Some((out, mut done)) = self.responder.respond(raw, src, local, Proto::Tcp).await
            else {
                return Ok(());
            };
            // Nothing to send (`acl` drop): the connection waits for the next query.
            if !out.is_empty() && !send(&mut s, &out).await? {
                return Ok(());
            }
            // The later messages of a multi-message answer (a zone transfer), in order.
            for m in done.as_mut().map(|d| d.take_more()).unwrap_or_default() {
                if !send(&mut s, &m).await? {
                    return Ok(());
                }
            }
            if let Some(d) = done {
                d.report();
            }
        }
    }

    /// The next query's length; `None` at EOF, when idle, or when stopped (the connection
    /// then goes to [`Released`]). Stopping is only heard before a query's first byte.
    async fn next_length(&self, s: &mut TcpStream) -> io::Result<Option<u16>> {
        let mut len = [0u8; 2];
        let got = loop {
            tokio::select! {
                _ = self.stop.cancelled() => {
                    self.release(s);
                    return Ok(None);
                }
                r = tokio::time::timeout(TCP_IDLE, s.readable()) => match r {
                    Err(_) => return Ok(None),
                    Ok(r) => r?,
                },
            }
            match s.try_read(&mut len) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            }
        };
        match got {
            0 => return Ok(None),
            1 => {
                tokio::time::timeout(TCP_IDLE, s.read_exact(&mut len[1..]))
                    .await
                    .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "reading a length"))??;
            }
            _ => {}
        }
        Ok(Some(u16::from_be_bytes(len)))
    }

    /// Lets go of `s` for a successor: a duplicate of the socket (the task's copy closes).
    fn release(&self, s: &TcpStream) {
        let dup = socket2::SockRef::from(s).try_clone();
        match dup {
            Ok(d) => {
                let d: std::net::TcpStream = d.into();
                let _ = d.set_nonblocking(false);
                self.released
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(d);
            }
            Err(e) => tracing::debug!(error = %e, "cannot keep a tcp connection for a successor"),
        }
    }
}
