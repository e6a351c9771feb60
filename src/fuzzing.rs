//! Entry points for the fuzz targets of `fuzz/` (feature `fuzzing`, not part of the product):
//! each takes untrusted input the way kdns does and must never panic, hang or run out of
//! memory. None listens, and none reads a file or resolves a name beyond what its setup names.
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::config::lexer::{substitute_env, tokenize, Loader};
use crate::config::syntax::Token;
use crate::dns::respond::Responder;
use crate::dns::Proto;
use crate::source::manifests::{self, Object};
use crate::source::proto::{self, ListDecoder};
use crate::source::{convert, env_input, Filter};
use crate::zone::{Change, Store};

/// The Corefile's path for [`corefile`]: in a directory that does not exist, so a relative
/// `import` or `forward` file reads nothing.
const NOWHERE: &str = "/nonexistent-kdns-fuzz/Corefile";

/// The environment `{$NAME}` reads in [`corefile`] (fixed, for reproducible runs).
fn env(name: &str) -> Option<String> {
    match name {
        "ZONE" => Some("cluster.local".into()),
        "PORT" => Some("53".into()),
        _ => None,
    }
}

/// Corefile `text` through the lexer (env, snippets, imports) and the parser, as `kdns
/// --validate` reads it before it loads sources. Text that would read a file by an absolute
/// path or resolve a host name (`forward . name`) is not parsed.
pub fn corefile(text: &str) {
    let path = Path::new(NOWHERE);
    let file: Arc<Path> = Arc::from(path);
    let raw = match tokenize(&substitute_env(text, &env), &file) {
        Ok(t) => t,
        Err(e) => {
            let _ = e.to_string(); // the loader's error: it tokenizes the same way first
            return;
        }
    };
    if raw.iter().any(|t| absolute(&t.text)) {
        return;
    }
    let toks = match Loader::new(&env).load_text(text, path) {
        Ok(t) => t,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    if resolves_names(&toks) {
        return;
    }
    match crate::config::parse(path, toks, 53) {
        Ok(cfg) => {
            let _ = crate::app::listen_plan(&cfg);
            for b in &cfg.blocks {
                let _ = crate::app::server_label(b);
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
}

/// An absolute path, perhaps behind a scheme (`dns:///etc/resolv.conf`).
fn absolute(word: &str) -> bool {
    let path = word.split_once("://").map_or(word, |(_, rest)| rest);
    path.starts_with('/')
}

/// Does a `forward` line name a TO that is neither an address nor a (relative) file?
fn resolves_names(toks: &[Token]) -> bool {
    toks.iter().enumerate().any(|(i, t)| {
        t.text == "forward"
            && toks[i + 1..]
                .iter()
                .take_while(|a| a.line == t.line && a.file == t.file && !a.is("{") && !a.is("}"))
                .skip(1)
                .any(|to| {
                    let s = to.text.strip_prefix("dns://").unwrap_or(&to.text);
                    s.parse::<IpAddr>().is_err()
                        && s.parse::<SocketAddr>().is_err()
                        && !s.contains('/')
                })
    })
}

/// The bytes of one manifest file through the loader of `kubernetes { manifests DIR }` and
/// `kdns env --manifests`: objects, the changes they make, the zone they build.
pub fn manifests(bytes: &[u8]) {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return; // the loader reads files as UTF-8: an I/O error
    };
    let objects = match manifests::load_text(text, Path::new("fuzz.yaml")) {
        Ok(o) => o,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    for o in &objects {
        let _ = o.at.to_string();
        if let Object::Service(s) = &o.object {
            let _ = env_input::service(s);
        }
    }
    zone_of(manifests::changes(&objects, &Filter::default()));
}

/// A protobuf list body (`k8s\0` + `runtime.Unknown`) through the streaming list decoder,
/// whole and in chunks of the first byte's size plus one; each item as a Service, an
/// EndpointSlice and a Pod, into a zone. Both ways must hand out the same items and end the
/// same way.
pub fn proto_list(bytes: &[u8]) {
    let Some((&split, body)) = bytes.split_first() else {
        return;
    };
    let whole = list(body, body.len().max(1));
    let chunked = list(body, usize::from(split) + 1);
    assert_eq!(whole, chunked, "the items depend on how the body arrives");
    let mut changes = Vec::new();
    for item in &whole.0 {
        if let Ok(s) = proto::service(item) {
            changes.push(Change::UpsertService(convert::service(&s)));
        }
        if let Ok(s) = proto::slice(item) {
            changes.extend(convert::slice(&s).map(Change::UpsertSlice));
        }
        if let Ok(p) = proto::pod(item) {
            changes.extend(convert::pod(&p).map(Change::UpsertPod));
        }
    }
    let _ = proto::status(body);
    zone_of(changes);
}

/// A list body's items, and how it ended: (resourceVersion, continue), or the error.
type Listed = (Vec<Vec<u8>>, Result<(String, String), String>);

/// The items of a list body fed `chunk` bytes at a time, and how it ended.
fn list(body: &[u8], chunk: usize) -> Listed {
    let mut items = Vec::new();
    let mut d = ListDecoder::new();
    for c in body.chunks(chunk) {
        let fed = d.feed(c, &mut |item| {
            items.push(item.to_vec());
            Ok(())
        });
        if let Err(e) = fed {
            return (items, Err(e.to_string()));
        }
    }
    let end = d
        .finish()
        .map(|m| (m.resource_version, m.continue_token))
        .map_err(|e| e.to_string());
    (items, end)
}

/// A watch response body (JSON lines) as the watch of each kind reads it, into a zone.
pub fn watch_events(bytes: &[u8]) {
    zone_of(crate::source::watch_body(bytes));
}

/// Applies `changes` to an empty store and takes the snapshot queries would read.
fn zone_of(changes: Vec<Change>) {
    let mut store = Store::new();
    for c in changes {
        store.apply(c);
    }
    store.set_synced(true);
    let _ = store.snapshot();
}

/// One server as the Corefile configures it, answering one request at a time through the
/// real [`Responder`] on a current-thread runtime; its sources are loaded, nothing listens.
pub struct Server {
    rt: tokio::runtime::Runtime,
    responder: Responder,
}

impl Server {
    /// Loads the Corefile `text` (relative paths from `path`) and everything it names.
    pub fn new(text: &str, path: &Path) -> Result<Self, String> {
        let cfg = crate::config::load_str(text, path, 53).map_err(|e| e.to_string())?;
        let prepared = crate::app::prepare(&cfg).map_err(|e| e.to_string())?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        let port = cfg.blocks.first().map_or(53, |b| b.port);
        let responder = Responder::new(Arc::new(ArcSwap::new(prepared.router)), port);
        Ok(Self { rt, responder })
    }

    /// The reply to `raw` over UDP (else TCP), reported to the block's observers as sent.
    pub fn request(&self, raw: &[u8], udp: bool) -> Option<Vec<u8>> {
        let src = SocketAddr::from(([10, 244, 0, 7], 40000));
        let local = SocketAddr::from(([10, 96, 0, 10], self.responder.port));
        let proto = if udp { Proto::Udp } else { Proto::Tcp };
        let reply = self
            .rt
            .block_on(self.responder.respond(raw.to_vec(), src, local, proto));
        let (out, done) = reply?;
        if let Some(done) = done {
            if done.packet_cacheable() {
                let _ = done.replay_counts();
            }
            done.report();
        }
        Some(out)
    }
}
