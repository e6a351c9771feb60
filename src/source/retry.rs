//! When a watcher tries a failed list or watch again, and how loudly it says so.
//!
//! A failure is one of three [`Fault`]s, and each has its own cadence:
//!
//! - **Unreachable** (connection refused or reset, the connection closed, a timeout): retried
//!   every 320–480 ms for as long as it lasts. A connect attempt is cheap, and the first try
//!   after the API server is back comes at once.
//! - **Denied** (401, 403): an API server that has just started answers 403 until its
//!   authorizer's caches are filled (about a second), so a denial is first taken for that:
//!   for [`GRACE`] of consecutive denials the watcher retries every 200–300 ms and logs at
//!   debug only. A denial that outlasts the grace is a verdict on kdns's credentials or RBAC
//!   permissions: it is logged as such and retried with the backoff of other errors.
//! - **Other** (another HTTP status, an answer that does not decode): capped exponential
//!   backoff, 250 ms → 10 s, jittered. An outage in between starts it over.
//!
//! The first failure of a streak is a warning, and so is a change of fault; while one fault
//! persists it is repeated at most every [`REPEAT`], the retries in between logged at debug.
use std::error::Error as _;
use std::io::ErrorKind;
use std::time::Duration;

use tokio::time::Instant;

/// How long denials, from the first of a streak, are taken for an API server still starting.
pub(super) const GRACE: Duration = Duration::from_secs(5);
/// How often a persisting failure is logged as a warning again.
pub(super) const REPEAT: Duration = Duration::from_secs(30);
/// The retry interval while the API server does not answer (jittered ±20 %).
pub(super) const UNREACHABLE: Duration = Duration::from_millis(400);
/// The retry interval of denials within the grace (jittered ±20 %).
const WARMING: Duration = Duration::from_millis(250);
/// The first interval of the backoff of other failures (and lasting denials), jittered ±20 %.
const FIRST: Duration = Duration::from_millis(250);
/// The largest interval of that backoff.
const MAX: Duration = Duration::from_secs(10);

/// Why a request failed, as far as trying again goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fault {
    /// No answer: the API server is down, restarting or out of reach.
    Unreachable,
    /// The API server refused the credentials (401) or the permission (403).
    Denied,
    /// Anything else: another HTTP error, an answer that does not decode.
    Other,
}

impl Fault {
    /// The fault of a failed request.
    pub(super) fn of(e: &kube::Error) -> Fault {
        match e {
            kube::Error::Api(s) if s.code == 401 || s.code == 403 => Fault::Denied,
            kube::Error::HyperError(_) | kube::Error::Service(_) | kube::Error::ReadEvents(_) => {
                transport(e)
            }
            _ => Fault::Other,
        }
    }
}

/// A request that got no HTTP answer: unreachable when some error in its chain is a broken or
/// refused connection or a timeout, or when no I/O error is named at all (hyper's "connection
/// closed before message completed"); another I/O error (a certificate rustls rejects, a name
/// that does not resolve) is no outage, and retrying soon does not fix it.
fn transport(e: &kube::Error) -> Fault {
    let mut next: Option<&(dyn std::error::Error + 'static)> = e.source();
    let mut io_error = false;
    for _ in 0..16 {
        let Some(err) = next else { break };
        next = err.source();
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if broken(io.kind()) {
                return Fault::Unreachable;
            }
            io_error = true;
            // An io::Error's `source` skips the error it wraps (hyper-rustls wraps the TLS
            // handshake's own io::Error in one of kind Other).
            if let Some(inner) = io.get_ref() {
                next = Some(inner);
            }
        }
    }
    match io_error {
        true => Fault::Other,
        false => Fault::Unreachable,
    }
}

/// I/O errors of a connection that could not be made or broke.
fn broken(kind: ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::ConnectionRefused
            | ErrorKind::ConnectionReset
            | ErrorKind::ConnectionAborted
            | ErrorKind::NotConnected
            | ErrorKind::BrokenPipe
            | ErrorKind::TimedOut
            | ErrorKind::UnexpectedEof
            | ErrorKind::HostUnreachable
            | ErrorKind::NetworkUnreachable
            | ErrorKind::NetworkDown
            | ErrorKind::AddrNotAvailable
    )
}

/// How to log one failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Log {
    /// A warning, with the reason.
    Warn,
    /// A debug line, with the reason: the failure was just warned about.
    Debug,
    /// A denial within the grace: a debug line that is no verdict on permissions.
    Warming,
}

/// What to do after one failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Next {
    /// How long to wait before the next request.
    pub wait: Duration,
    /// How to log the failure.
    pub log: Log,
}

/// The retry state of one watcher: reset by every answered request.
#[derive(Debug)]
pub(super) struct Retry {
    /// The next interval of the exponential backoff.
    backoff: Duration,
    /// When the current run of denials began.
    denied_since: Option<Instant>,
    /// The last warning of this streak: its fault and when.
    warned: Option<(Fault, Instant)>,
}

impl Default for Retry {
    fn default() -> Self {
        Self {
            backoff: FIRST,
            denied_since: None,
            warned: None,
        }
    }
}

impl Retry {
    /// The API server answered: the next failure starts a new streak.
    pub(super) fn answered(&mut self) {
        *self = Self::default();
    }

    /// A request failed with `fault` at `now`: when to try again, and how to log it.
    pub(super) fn failed(&mut self, fault: Fault, now: Instant) -> Next {
        let warming = match fault {
            Fault::Denied => {
                let since = *self.denied_since.get_or_insert(now);
                now.saturating_duration_since(since) < GRACE
            }
            Fault::Unreachable => {
                // The server went away: whatever it says when it is back is news.
                self.denied_since = None;
                self.backoff = FIRST;
                false
            }
            Fault::Other => false,
        };
        let wait = match fault {
            Fault::Unreachable => jitter(UNREACHABLE),
            Fault::Denied if warming => jitter(WARMING),
            Fault::Denied | Fault::Other => {
                let d = self.backoff;
                self.backoff = (d * 2).min(MAX);
                jitter(d)
            }
        };
        let log = if warming {
            Log::Warming
        } else if self
            .warned
            .is_some_and(|(f, at)| f == fault && now.saturating_duration_since(at) < REPEAT)
        {
            Log::Debug
        } else {
            self.warned = Some((fault, now));
            Log::Warn
        };
        Next { wait, log }
    }
}

/// `d` ± 20 %.
fn jitter(d: Duration) -> Duration {
    d.mul_f64(rand::random_range(0.8..1.2))
}

#[cfg(test)]
mod tests;
