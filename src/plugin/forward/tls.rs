//! DNS over TLS upstreams (`tls://IP[%NAME][:PORT]`): the `tls` and `tls_servername` options of
//! `forward`, the rustls client configuration they make (the ring provider; TLS 1.2 and 1.3,
//! as CoreDNS's Go minimum of 1.2), and dialing one connection (TCP, then the handshake) within
//! `read_timeout`. Certificate files are read when the Corefile loads, so a missing or bad one
//! fails the load at its line.
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use super::conn::{self, Transport};
use super::error::ExchangeError;
use crate::config::args;
use crate::config::syntax::{ConfigError, Line, Token};

const D: &str = "forward";
/// The DNS-over-TLS port (RFC 7858), the default of a `tls://` upstream.
pub(crate) const PORT: u16 = 853;

/// A connection to a DNS-over-TLS upstream.
pub(crate) type Stream = TlsStream<TcpStream>;

/// The client side of TLS for one `forward`: shared by its `tls://` upstreams (and its rustls
/// session cache with them). `Err` when no trust anchor could be found (an empty system store):
/// then every handshake fails with that reason, as Go's would with an empty pool.
#[derive(Clone)]
pub(crate) struct TlsClient(Result<Arc<ClientConfig>, String>);

impl fmt::Debug for TlsClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Ok(_) => f.write_str("TlsClient"),
            Err(e) => write!(f, "TlsClient({e})"),
        }
    }
}

impl PartialEq for TlsClient {
    fn eq(&self, other: &Self) -> bool {
        match (&self.0, &other.0) {
            (Ok(a), Ok(b)) => Arc::ptr_eq(a, b),
            (Err(a), Err(b)) => a == b,
            _ => false,
        }
    }
}

/// What the `tls` and `tls_servername` lines of one `forward` said (a later line replaces an
/// earlier one, as in CoreDNS).
#[derive(Default)]
pub(crate) struct Settings {
    /// From the last `tls` line; `None`: no `tls` line (system roots, no client certificate).
    client: Option<TlsClient>,
    /// `tls_servername NAME`, checked to be a name or an address.
    pub(crate) server_name: Option<String>,
}

impl Settings {
    /// Takes the `tls` and `tls_servername` lines (true); other lines are not ours (false).
    /// Relative paths are taken from `base`, the Corefile's directory.
    pub(crate) fn option(&mut self, o: &Line, base: &Path) -> Result<bool, ConfigError> {
        match o.name().text.as_str() {
            "tls" => {
                args::no_block(o, D)?;
                self.client = Some(client_of(o, base)?);
            }
            "tls_servername" => {
                args::no_block(o, D)?;
                let t = args::one(o, D, "a name")?;
                server_name(t, &t.text)?;
                self.server_name = Some(t.text.clone());
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The client for the `tls://` upstreams: the `tls` line's, else system roots.
    pub(crate) fn client(self) -> TlsClient {
        self.client
            .unwrap_or_else(|| build(None, None).unwrap_or_else(|e| TlsClient(Err(e))))
    }
}

/// `NAME` as a TLS server name (a DNS name or an IP address), or an error at `t`.
pub(crate) fn server_name(t: &Token, name: &str) -> Result<ServerName<'static>, ConfigError> {
    ServerName::try_from(name.to_string()).map_err(|_| {
        ConfigError::at(
            t,
            Some(D),
            format!("{name:?} is not a valid TLS server name"),
        )
    })
}

/// `tls [CERT KEY] [CA]`: 0 arguments: system roots; 1: CA; 2: CERT KEY with system roots;
/// 3: CERT KEY CA.
fn client_of(o: &Line, base: &Path) -> Result<TlsClient, ConfigError> {
    let a = o.args();
    let path = |t: &Token| {
        let p = PathBuf::from(&t.text);
        if p.is_absolute() {
            p
        } else {
            base.join(p)
        }
    };
    let (pair, ca) = match a {
        [] => (None, None),
        [ca] => (None, Some(ca)),
        [cert, key] => (Some((cert, key)), None),
        [cert, key, ca] => (Some((cert, key)), Some(ca)),
        _ => {
            return Err(ConfigError::at(
                &a[3],
                Some(D),
                format!(
                    "tls takes at most three arguments (CERT KEY CA), found {}",
                    a.len()
                ),
            ))
        }
    };
    let roots = ca.map(|t| roots_of(t, &path(t))).transpose()?;
    let auth = pair
        .map(|(c, k)| key_pair(c, &path(c), k, &path(k)))
        .transpose()?;
    // A certificate and key that do not belong together fail here, as Go's LoadX509KeyPair.
    build(roots, auth).map_err(|e| ConfigError::at(a.first().unwrap_or(o.name()), Some(D), e))
}

fn read(t: &Token, p: &Path) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(p).map_err(|e| ConfigError::at(t, Some(D), format!("{}: {e}", p.display())))
}

/// The CA file's certificates as trust anchors (at least one).
fn roots_of(t: &Token, p: &Path) -> Result<RootCertStore, ConfigError> {
    let pem = read(t, p)?;
    let bad = |m: String| ConfigError::at(t, Some(D), format!("{}: {m}", p.display()));
    let mut roots = RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(&pem) {
        let c = c.map_err(|e| bad(format!("bad PEM: {e}")))?;
        roots
            .add(c)
            .map_err(|e| bad(format!("not a CA certificate: {e}")))?;
    }
    if roots.is_empty() {
        return Err(bad("no CERTIFICATE in the file".into()));
    }
    Ok(roots)
}

type KeyPair = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

/// `CERT KEY`: the client certificate chain and its private key.
fn key_pair(ct: &Token, cp: &Path, kt: &Token, kp: &Path) -> Result<KeyPair, ConfigError> {
    let certs = read(ct, cp)?;
    let chain = CertificateDer::pem_slice_iter(&certs)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ConfigError::at(ct, Some(D), format!("{}: bad PEM: {e}", cp.display())))?;
    if chain.is_empty() {
        let m = format!("{}: no CERTIFICATE in the file", cp.display());
        return Err(ConfigError::at(ct, Some(D), m));
    }
    let key = PrivateKeyDer::from_pem_slice(&read(kt, kp)?).map_err(|e| {
        ConfigError::at(
            kt,
            Some(D),
            format!("{}: no private key: {e}", kp.display()),
        )
    })?;
    Ok((chain, key))
}

/// The system's trust anchors (the OS store: `SSL_CERT_FILE`, `/etc/ssl/certs`, …).
fn system_roots() -> RootCertStore {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        tracing::warn!(errors = ?found.errors, "forward: no system CA certificates found; tls:// upstreams will fail verification unless `tls` names a CA");
    }
    roots
}

/// The rustls client: `roots` (else the system's) and the client certificate, if any. `Err`:
/// the certificate and key do not go together.
fn build(roots: Option<RootCertStore>, auth: Option<KeyPair>) -> Result<TlsClient, String> {
    let roots = roots.unwrap_or_else(system_roots);
    if roots.is_empty() {
        let e = "no trusted CA certificates (the system store is empty)";
        return Ok(TlsClient(Err(e.into())));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots);
    let config = match auth {
        None => builder.with_no_client_auth(),
        Some((chain, key)) => builder
            .with_client_auth_cert(chain, key)
            .map_err(|e| format!("could not load TLS cert: {e}"))?,
    };
    Ok(TlsClient(Ok(Arc::new(config))))
}

/// Dials one `tls://` upstream: TCP, then the handshake verifying `name`.
pub(crate) struct Dialer {
    connector: Result<TlsConnector, String>,
    name: ServerName<'static>,
}

impl Dialer {
    /// A dialer with `client`'s settings verifying the upstream as `name`.
    pub(crate) fn new(client: &TlsClient, name: ServerName<'static>) -> Self {
        Self {
            connector: client.0.clone().map(TlsConnector::from),
            name,
        }
    }

    /// A new connection to `to` (from `source_address` when set): connect and handshake,
    /// each within `read_timeout`. A failed handshake (untrusted certificate, wrong name) is an
    /// error like any other upstream error.
    pub(crate) async fn dial(
        &self,
        to: SocketAddr,
        t: &Transport,
    ) -> Result<Stream, ExchangeError> {
        let tls_err = |msg: String| ExchangeError::Tls { to, msg };
        let connector = self.connector.as_ref().map_err(|m| tls_err(m.clone()))?;
        let tcp = conn::dial_tcp(to, t).await?;
        let hs = connector.connect(self.name.clone(), tcp);
        match tokio::time::timeout(t.read_timeout, hs).await {
            Err(_) => Err(tls_err("handshake: i/o timeout".into())),
            Ok(Err(e)) => Err(tls_err(e.to_string())),
            Ok(Ok(s)) => Ok(s),
        }
    }
}

/// Our end of a TLS connection.
pub(crate) fn local_addr(s: &Stream) -> Option<SocketAddr> {
    s.get_ref().0.local_addr().ok()
}

#[cfg(test)]
mod tests;
