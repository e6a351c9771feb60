//! `kdns env --kubeconfig` against a stand-in API server: a plain-HTTP loopback listener that
//! serves `GET /api/v1/services` in two pages, so the paging, the `--context` choice and the
//! conversion of listed objects are exercised without a cluster.
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::Command;
use std::sync::{Arc, Mutex};

use serde_json::json;

fn svc(ns: &str, name: &str, ip: &str, port: i32) -> serde_json::Value {
    json!({"metadata": {"name": name, "namespace": ns},
           "spec": {"clusterIP": ip, "ports": [{"port": port, "protocol": "TCP"}]}})
}

/// Serves the two pages; returns the port and the request lines it saw.
fn fake_apiserver() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request = String::new();
            if reader.read_line(&mut request).is_err() {
                continue;
            }
            // drain the headers
            let mut line = String::new();
            while reader.read_line(&mut line).map(|n| n > 2).unwrap_or(false) {
                line.clear();
            }
            log.lock().unwrap().push(request.trim().to_string());
            let page = if request.contains("continue=page2") {
                json!({"kind": "ServiceList", "apiVersion": "v1", "metadata": {},
                       "items": [svc("team", "web", "10.96.0.20", 80)]})
            } else {
                json!({"kind": "ServiceList", "apiVersion": "v1",
                       "metadata": {"continue": "page2"},
                       "items": [svc("default", "kubernetes", "10.96.0.1", 443),
                                 svc("team", "db-main", "fd00::5", 5432)]})
            };
            let body = page.to_string();
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (port, seen)
}

#[test]
fn lists_every_page_of_the_chosen_context() {
    let (port, seen) = fake_apiserver();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    // the current context points nowhere: only --context makes this work
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: broken\n\
             clusters:\n- name: fake\n  cluster: {{server: 'http://127.0.0.1:{port}'}}\n\
             - name: nowhere\n  cluster: {{server: 'http://127.0.0.1:1'}}\n\
             contexts:\n- name: fake\n  context: {{cluster: fake, user: u}}\n\
             - name: broken\n  context: {{cluster: nowhere, user: u}}\n\
             users:\n- name: u\n  user: {{token: t}}\n"
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_kdns"))
        .args(["env", "-n", "team", "--kubeconfig"])
        .arg(&kubeconfig)
        .args(["--context", "fake"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("KUBERNETES_SERVICE_HOST=10.96.0.1\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("DB_MAIN_PORT='tcp://[fd00::5]:5432'\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("WEB_SERVICE_PORT=80\n"),
        "page 2 missing: {stdout}"
    );
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(seen[0].starts_with("GET /api/v1/services?"), "{seen:?}");
    assert!(seen[0].contains("limit=500"), "{seen:?}");
    assert!(seen[1].contains("continue=page2"), "{seen:?}");
}
