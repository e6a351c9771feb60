//! A stand-in API server for unit tests: plain HTTP/1.1 on 127.0.0.1, one request per
//! connection, each answered with the next scripted [`Reply`] for its path (a path whose script
//! is used up gets a watch that stays silent). It records every request line and when it came,
//! so tests can check which resourceVersion a watch resumed from, whether a list came from the
//! cache, and how soon a failed request was tried again.
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use super::api::ApiConfig;
use super::client::{connect, ApiClient};

/// One scripted answer.
#[derive(Debug, Clone)]
pub(super) enum Reply {
    /// A complete JSON body with this HTTP status.
    Json(u16, Value),
    /// A watch: these events as chunked JSON lines, then the end of the stream.
    Events(Vec<Value>),
    /// No answer: the connection closes after the request, as when the server goes down.
    HangUp,
}

/// A list body of `kind` (`ServiceList`, ...) at `rv`.
pub(super) fn list(kind: &str, rv: &str, items: Vec<Value>) -> Reply {
    Reply::Json(
        200,
        json!({"kind": kind, "apiVersion": "v1", "metadata": {"resourceVersion": rv}, "items": items}),
    )
}

/// A `Status` body: a failed request.
pub(super) fn status(code: u16, reason: &str, message: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
           "message": message, "reason": reason, "code": code})
}

/// A Service `name` in `default` at resourceVersion `rv` with cluster IP `ip`.
pub(super) fn service(name: &str, rv: &str, ip: &str) -> Value {
    json!({"metadata": {"name": name, "namespace": "default", "resourceVersion": rv},
           "spec": {"type": "ClusterIP", "clusterIP": ip, "clusterIPs": [ip]}})
}

/// A watch event of `kind` (`ADDED`, `MODIFIED`, `DELETED`, `BOOKMARK`, `ERROR`).
pub(super) fn watch_event(kind: &str, object: Value) -> Value {
    json!({"type": kind, "object": object})
}

/// A bookmark at `rv`.
pub(super) fn bookmark(rv: &str) -> Value {
    watch_event(
        "BOOKMARK",
        json!({"kind": "Service", "apiVersion": "v1", "metadata": {"resourceVersion": rv}}),
    )
}

type Script = Arc<Mutex<HashMap<String, VecDeque<Reply>>>>;
/// Request targets (path and query) and when they arrived.
type Seen = Arc<Mutex<Vec<(String, Instant)>>>;

/// The running stand-in.
pub(super) struct FakeApi {
    port: u16,
    seen: Seen,
}

impl FakeApi {
    /// Serves `script`: for each path (`/api/v1/services`), the replies in order.
    pub(super) async fn start(script: Vec<(&str, Vec<Reply>)>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let script: Script = Arc::new(Mutex::new(
            script
                .into_iter()
                .map(|(p, r)| (p.to_string(), r.into()))
                .collect(),
        ));
        let log = seen.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(answer(stream, script.clone(), log.clone()));
            }
        });
        Self { port, seen }
    }

    /// A client of this server.
    pub(super) async fn client(&self) -> ApiClient {
        let api = ApiConfig {
            endpoint: Some(format!("http://127.0.0.1:{}", self.port)),
            ..Default::default()
        };
        connect(&api).await.unwrap()
    }

    /// The request targets (path and query) seen so far for `path`, in order.
    pub(super) fn requests(&self, path: &str) -> Vec<String> {
        self.seen_at(path).into_iter().map(|(t, _)| t).collect()
    }

    /// When the requests for `path` arrived, in order.
    pub(super) fn request_times(&self, path: &str) -> Vec<Instant> {
        self.seen_at(path).into_iter().map(|(_, at)| at).collect()
    }

    fn seen_at(&self, path: &str) -> Vec<(String, Instant)> {
        let seen = self.seen.lock().unwrap();
        seen.iter()
            .filter(|(t, _)| t.split('?').next() == Some(path))
            .cloned()
            .collect()
    }
}

/// Reads one request and answers it from the script.
async fn answer(stream: TcpStream, script: Script, seen: Seen) {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
        return;
    }
    let target = line.split(' ').nth(1).unwrap_or_default().to_string();
    loop {
        let mut header = String::new();
        match reader.read_line(&mut header).await {
            Ok(n) if n > 2 => continue,
            _ => break,
        }
    }
    seen.lock().unwrap().push((target.clone(), Instant::now()));
    let path = target.split('?').next().unwrap_or_default().to_string();
    let reply = script
        .lock()
        .unwrap()
        .get_mut(&path)
        .and_then(VecDeque::pop_front);
    let mut stream = reader.into_inner();
    let _ = match reply {
        Some(Reply::Json(code, body)) => {
            let body = body.to_string();
            let head = format!(
                "HTTP/1.1 {code} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n",
                body.len()
            );
            stream.write_all((head + &body).as_bytes()).await
        }
        Some(Reply::Events(events)) => stream_events(&mut stream, &events, true).await,
        Some(Reply::HangUp) => Ok(()),
        None => {
            // A watch with nothing to say, open until the test ends.
            let _ = stream_events(&mut stream, &[], false).await;
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok(())
        }
    };
}

/// A chunked 200 with one JSON line per event; then the stream ends if `end`.
async fn stream_events(stream: &mut TcpStream, events: &[Value], end: bool) -> std::io::Result<()> {
    stream
        .write_all(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
              Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        )
        .await?;
    for e in events {
        let line = format!("{e}\n");
        stream
            .write_all(format!("{:x}\r\n{line}\r\n", line.len()).as_bytes())
            .await?;
    }
    if end {
        stream.write_all(b"0\r\n\r\n").await?;
    }
    stream.flush().await
}
