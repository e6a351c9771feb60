//! Why an exchange with an upstream failed, worded as Go's net errors so the log lines read as
//! CoreDNS's do.
use std::io;
use std::net::SocketAddr;

/// Why an exchange failed, worded as Go's net errors (as CoreDNS logs them), e.g.
/// `read udp 127.0.0.1:40000->127.0.0.1:53: i/o timeout`.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ExchangeError {
    /// A socket operation failed: `op` is `dial`, `write` or `read`.
    #[error("{}", io_text(op, proto, *local, *to, source))]
    Io {
        /// `dial`, `write` or `read`.
        op: &'static str,
        /// `udp` or `tcp`.
        proto: &'static str,
        /// Our end of the connection, when it is known.
        local: Option<SocketAddr>,
        /// The upstream.
        to: SocketAddr,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// No answer within the read timeout.
    #[error("read {proto} {}: i/o timeout", ends(*local, *to))]
    Timeout {
        /// `udp` or `tcp`.
        proto: &'static str,
        /// Our end of the connection, when it is known.
        local: Option<SocketAddr>,
        /// The upstream.
        to: SocketAddr,
    },
    /// The TLS handshake with a `tls://` upstream failed (an untrusted certificate, the wrong
    /// name) or could not start.
    #[error("tls {to}: {msg}")]
    Tls {
        /// The upstream.
        to: SocketAddr,
        /// What went wrong.
        msg: String,
    },
    /// The query could not be sent or the response does not answer it.
    #[error("{to}: bad response: {msg}")]
    Bad {
        /// The upstream.
        to: SocketAddr,
        /// What is wrong.
        msg: String,
    },
}

impl ExchangeError {
    /// A failed socket operation `op` (`dial`, `write`, `read`) over `proto` with `to`.
    pub(crate) fn io(
        op: &'static str,
        proto: &'static str,
        local: Option<SocketAddr>,
        to: SocketAddr,
        source: io::Error,
    ) -> Self {
        Self::Io {
            op,
            proto,
            local,
            to,
            source,
        }
    }

    /// No answer from `to` over `proto` in time.
    pub(crate) fn timeout(proto: &'static str, local: Option<SocketAddr>, to: SocketAddr) -> Self {
        Self::Timeout { proto, local, to }
    }
}

/// `LOCAL->REMOTE`, or `REMOTE` alone when our end is not known.
fn ends(local: Option<SocketAddr>, to: SocketAddr) -> String {
    match local {
        Some(l) => format!("{l}->{to}"),
        None => to.to_string(),
    }
}

/// `Connection refused (os error 111)` → `connection refused`.
fn reason(e: &io::Error) -> String {
    let t = e.to_string();
    let t = t.split(" (os error").next().unwrap_or(&t);
    let mut c = t.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

fn io_text(
    op: &str,
    proto: &str,
    local: Option<SocketAddr>,
    to: SocketAddr,
    e: &io::Error,
) -> String {
    match op {
        "dial" => format!("dial {proto} {to}: connect: {}", reason(e)),
        // Go wraps the syscall's error in the operation's: `read udp A->B: read: …`.
        _ => format!("{op} {proto} {}: {op}: {}", ends(local, to), reason(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worded_as_go_net_errors() {
        let to: SocketAddr = "127.0.0.1:53".parse().unwrap();
        let local: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        let refused = || io::Error::from_raw_os_error(111);
        assert_eq!(
            ExchangeError::io("dial", "tcp", Some(local), to, refused()).to_string(),
            "dial tcp 127.0.0.1:53: connect: connection refused"
        );
        assert_eq!(
            ExchangeError::io("read", "udp", Some(local), to, refused()).to_string(),
            "read udp 127.0.0.1:40000->127.0.0.1:53: read: connection refused"
        );
        assert_eq!(
            ExchangeError::timeout("tcp", None, to).to_string(),
            "read tcp 127.0.0.1:53: i/o timeout"
        );
        assert_eq!(
            ExchangeError::Bad {
                to,
                msg: "query too long".into()
            }
            .to_string(),
            "127.0.0.1:53: bad response: query too long"
        );
    }
}
