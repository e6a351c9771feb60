//! The API client, and the one wording of API errors.
//!
//! A client is built as CoreDNS builds it: from a kubeconfig (and its context), else from an
//! endpoint (with a client certificate), else from the in-cluster service account. `kdns env`
//! reads its kubeconfig through the same [`kubeconfig`] loader. [`explain`] words a failed
//! request for the log and for error messages, naming what is missing when permission was
//! refused.
use std::path::{Path, PathBuf};

use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use kube::client::{retry::RetryPolicy, ConfigExt};
use kube::config::{KubeConfigOptions, Kubeconfig, KubeconfigError};
use tower::{retry::RetryLayer, BoxError, ServiceBuilder};

use super::api::ApiConfig;

/// Why no API client could be built.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The kubeconfig does not load.
    #[error("kubeconfig{}: {message}", at(path.as_deref()))]
    Kubeconfig {
        /// The file named in the configuration; `None`: `$KUBECONFIG` or `~/.kube/config`.
        path: Option<PathBuf>,
        /// What is wrong with it.
        message: String,
    },
    /// No kubeconfig or endpoint was given and there is no service account to fall back on.
    #[error("not running in a cluster (no service account) and no kubeconfig/endpoint given: {0}")]
    InCluster(String),
    /// The `endpoint` is not a URL.
    #[error("endpoint {url:?}: {message}")]
    Endpoint {
        /// The endpoint as written.
        url: String,
        /// Why it does not parse.
        message: String,
    },
    /// The configuration is complete, but no client can be made of it (certificates, TLS).
    #[error("cannot build the API client: {0}")]
    Client(String),
}

/// `" PATH"` after the word `kubeconfig` in an error, when a file was named.
fn at(path: Option<&Path>) -> String {
    path.map(|p| format!(" {}", p.display()))
        .unwrap_or_default()
}

/// A connection to one API server, for [`super::kube::spawn`] (cheap to clone).
#[derive(Clone)]
pub struct ApiClient(pub(super) kube::Client);

/// Builds an API client as CoreDNS does: `kubeconfig` (and its context), else `endpoint` (+
/// `tls`), else the in-cluster service account. Watches are long-lived, so the client has no
/// read timeout (the watch asks the server to end it, and re-watches).
pub async fn connect(api: &ApiConfig) -> Result<ApiClient, SourceError> {
    let mut config = if let Some((path, context)) = &api.kubeconfig {
        kubeconfig(Some(path), context.as_deref()).await?
    } else if let Some(url) = &api.endpoint {
        endpoint(url, api.tls.as_ref())?
    } else {
        kube::Config::incluster().map_err(|e| SourceError::InCluster(e.to_string()))?
    };
    config.read_timeout = None;
    build(config).map(ApiClient)
}

/// The client configuration of a kubeconfig file (`None`: `$KUBECONFIG`, else
/// `~/.kube/config`), in `context` (`None`: its current context).
pub(super) async fn kubeconfig(
    path: Option<&Path>,
    context: Option<&str>,
) -> Result<kube::Config, SourceError> {
    let err = |e: KubeconfigError| SourceError::Kubeconfig {
        path: path.map(Path::to_path_buf),
        message: e.to_string(),
    };
    let file = match path {
        Some(p) => Kubeconfig::read_from(p),
        None => Kubeconfig::read(),
    }
    .map_err(err)?;
    let options = KubeConfigOptions {
        context: context.map(str::to_string),
        ..Default::default()
    };
    kube::Config::from_custom_kubeconfig(file, &options)
        .await
        .map_err(err)
}

/// The client configuration of `endpoint` with an optional (client cert, client key, CA).
fn endpoint(
    url: &str,
    tls: Option<&(PathBuf, PathBuf, PathBuf)>,
) -> Result<kube::Config, SourceError> {
    let uri: http::Uri = url
        .parse()
        .map_err(|e: http::uri::InvalidUri| SourceError::Endpoint {
            url: url.to_string(),
            message: e.to_string(),
        })?;
    let mut c = kube::Config::new(uri);
    if let Some((cert, key, ca)) = tls {
        c.auth_info.client_certificate = Some(cert.display().to_string());
        c.auth_info.client_key = Some(key.display().to_string());
        c.root_cert_file = Some(ca.clone());
    }
    Ok(c)
}

/// A client of a complete configuration: kube's own stack (base URI, retries of 429/503/504,
/// credentials, extra headers, timeouts, rustls) over a connector that sets `TCP_NODELAY`.
///
/// kube's `Client::try_from` leaves Nagle's algorithm on, so on every new connection the HTTP
/// request written right after the TLS handshake waited for the API server's delayed ACK:
/// ~40 ms before the first list could even start (and again on each reconnect). A proxy
/// (`proxy-url` in the kubeconfig) keeps kube's builder, which knows proxies.
pub(super) fn build(config: kube::Config) -> Result<kube::Client, SourceError> {
    let err = |e: kube::Error| SourceError::Client(e.to_string());
    if config.proxy_url.is_some() {
        return kube::Client::try_from(config).map_err(err);
    }
    let https = config
        .rustls_https_connector_with_connector(connector())
        .map_err(err)?;
    let mut timed = hyper_timeout::TimeoutConnector::new(https);
    timed.set_connect_timeout(config.connect_timeout);
    timed.set_read_timeout(config.read_timeout);
    timed.set_write_timeout(config.write_timeout);
    timed.set_reset_reader_on_write(config.reset_reader_on_write);
    let http = hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build(timed);
    let retry = config
        .default_retry
        .then(|| RetryLayer::new(RetryPolicy::server_retry()));
    let service = ServiceBuilder::new()
        .layer(config.base_uri_layer())
        .option_layer(retry)
        .option_layer(config.auth_layer().map_err(err)?)
        .layer(config.extra_headers_layer().map_err(err)?)
        .map_err(BoxError::from)
        .service(http);
    Ok(kube::Client::new(service, config.default_namespace))
}

/// The TCP connector under the API client's TLS: any scheme (TLS is layered on top), and
/// `TCP_NODELAY`, as client-go's connections have (Go sets it on every TCP socket).
fn connector() -> HttpConnector {
    let mut c = HttpConnector::new();
    c.enforce_http(false);
    c.set_nodelay(true);
    c
}

/// Explains a failed request: a refused permission names the `verbs` kdns needs on
/// `resource`, a rejected credential says so, another API error gives the server's message,
/// code and reason; anything else is kube's own wording and its causes.
pub(super) fn explain(resource: &str, verbs: &str, e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) if s.code == 403 => format!(
            "missing RBAC permission: kdns needs {verbs} on {resource} (cluster-wide); see deploy/rbac.yaml: {}",
            s.message
        ),
        kube::Error::Api(s) if s.code == 401 => format!(
            "not authenticated to the API server (token or client certificate rejected): {}",
            s.message
        ),
        kube::Error::Api(s) if s.message.is_empty() => e.to_string(),
        kube::Error::Api(s) if s.reason.is_empty() => format!("{} ({})", s.message, s.code),
        kube::Error::Api(s) => format!("{} ({}, {})", s.message, s.code, s.reason),
        _ => with_causes(e),
    }
}

/// `e` and the errors that caused it, `a: b: c`, each said once: kube's own words for a
/// refused connection end at "client error (Connect)".
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    for _ in 0..16 {
        let Some(cause) = next else { break };
        let said = cause.to_string();
        if !out.contains(&said) {
            out = format!("{out}: {said}");
        }
        next = cause.source();
    }
    out
}

#[cfg(test)]
mod tests;
