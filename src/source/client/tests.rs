//! The client factory's errors and the wording of API errors.
use std::path::PathBuf;

use super::*;

fn api(code: u16, reason: &str, message: &str) -> kube::Error {
    kube::Error::Api(Box::new(kube::core::Status {
        code,
        reason: reason.into(),
        message: message.into(),
        ..Default::default()
    }))
}

#[test]
fn a_refused_permission_names_resource_and_verbs() {
    let why = explain(
        "endpointslices.discovery.k8s.io",
        "`list` and `watch`",
        &api(403, "Forbidden", "endpointslices is forbidden: User \"x\""),
    );
    assert_eq!(
        why,
        "missing RBAC permission: kdns needs `list` and `watch` on endpointslices.discovery.k8s.io \
         (cluster-wide); see deploy/rbac.yaml: endpointslices is forbidden: User \"x\""
    );
    let why = explain("services", "`list`", &api(403, "Forbidden", "no"));
    assert!(why.contains("kdns needs `list` on services"), "{why}");
}

#[test]
fn other_api_errors_give_the_server_message() {
    assert_eq!(
        explain(
            "services",
            "`list`",
            &api(401, "Unauthorized", "Unauthorized")
        ),
        "not authenticated to the API server (token or client certificate rejected): Unauthorized"
    );
    assert_eq!(
        explain("services", "`list`", &api(500, "InternalError", "boom")),
        "boom (500, InternalError)"
    );
    assert_eq!(
        explain("services", "`list`", &api(503, "", "busy")),
        "busy (503)"
    );
    let empty = api(502, "BadGateway", "");
    assert_eq!(explain("services", "`list`", &empty), empty.to_string());
    let other = kube::Error::LinesCodecMaxLineLengthExceeded;
    assert_eq!(explain("services", "`list`", &other), other.to_string());
}

#[tokio::test]
async fn a_refused_connection_is_named_beyond_kube_s_words() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    let config = kube::Config::new(format!("http://127.0.0.1:{port}").parse().unwrap());
    let client = build(config).unwrap();
    let req = http::Request::get("/version")
        .body(kube::client::Body::empty())
        .unwrap();
    let e = client.send(req).await.expect_err("nobody listens");
    let why = explain("services", "`list`", &e);
    assert!(why.starts_with(&e.to_string()), "{why}");
    assert!(why.contains("Connection refused"), "{why}");
}

#[test]
fn kubeconfig_errors_name_the_file_when_one_was_given() {
    let named = SourceError::Kubeconfig {
        path: Some(PathBuf::from("/etc/kc")),
        message: "bad".into(),
    };
    assert_eq!(named.to_string(), "kubeconfig /etc/kc: bad");
    let default = SourceError::Kubeconfig {
        path: None,
        message: "bad".into(),
    };
    assert_eq!(default.to_string(), "kubeconfig: bad");
}

#[tokio::test]
async fn connect_reports_what_is_wrong() {
    let missing = ApiConfig {
        kubeconfig: Some(("/nonexistent/kubeconfig".into(), None)),
        ..Default::default()
    };
    match connect(&missing).await {
        Err(SourceError::Kubeconfig { path, .. }) => {
            assert_eq!(path, Some(PathBuf::from("/nonexistent/kubeconfig")))
        }
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("a missing kubeconfig connected"),
    }
    let bad_url = ApiConfig {
        endpoint: Some("http://[::1".into()),
        ..Default::default()
    };
    assert!(matches!(
        connect(&bad_url).await,
        Err(SourceError::Endpoint { url, .. }) if url == "http://[::1"
    ));
    let fine = ApiConfig {
        endpoint: Some("http://127.0.0.1:1".into()),
        ..Default::default()
    };
    assert!(connect(&fine).await.is_ok());
}

#[tokio::test]
async fn a_kubeconfig_context_is_chosen_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    std::fs::write(
        &path,
        "apiVersion: v1\nkind: Config\ncurrent-context: a\n\
         clusters:\n- name: a\n  cluster: {server: 'http://127.0.0.1:1'}\n\
         - name: b\n  cluster: {server: 'http://127.0.0.2:2'}\n\
         contexts:\n- name: a\n  context: {cluster: a, user: u}\n\
         - name: b\n  context: {cluster: b, user: u}\n\
         users:\n- name: u\n  user: {token: t}\n",
    )
    .unwrap();
    let current = kubeconfig(Some(&path), None).await.unwrap();
    assert_eq!(current.cluster_url.port_u16(), Some(1));
    let b = kubeconfig(Some(&path), Some("b")).await.unwrap();
    assert_eq!(b.cluster_url.host(), Some("127.0.0.2"));
    let Err(SourceError::Kubeconfig { path: p, message }) =
        kubeconfig(Some(&path), Some("nope")).await
    else {
        panic!("an unknown context loaded");
    };
    assert_eq!(p.as_deref(), Some(path.as_path()));
    assert!(message.contains("nope"), "{message}");
}

/// The API client's TCP connections set `TCP_NODELAY`: without it the request written right
/// after the TLS handshake waited for the server's delayed ACK (~40 ms on every new connection,
/// the first lists included).
#[tokio::test]
async fn api_connections_do_not_wait_for_delayed_acks() {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let uri: http::Uri = format!("http://{}", l.local_addr().unwrap())
        .parse()
        .unwrap();
    let conn = tower::ServiceExt::oneshot(super::connector(), uri)
        .await
        .unwrap();
    assert!(conn.inner().nodelay().unwrap());
}
