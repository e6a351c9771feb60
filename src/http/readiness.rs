//! The readiness latch behind `/ready`: the parts that report readiness (a source sets its
//! flag once synced), latched once all are ready (unless `monitor continuously`), and
//! `Shutting down` from the moment kdns starts to stop.
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// Set by a part when it is ready to answer.
#[derive(Clone, Debug)]
pub(crate) struct ReadyFlag(Arc<AtomicBool>);

impl ReadyFlag {
    /// Sets (or clears) the part's readiness.
    pub(crate) fn set(&self, ready: bool) {
        self.0.store(ready, Ordering::Release);
    }
    /// Whether the part is ready.
    pub(crate) fn get(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

type Check = Box<dyn Fn() -> bool + Send + Sync>;

/// The parts of one loaded configuration that report readiness.
#[derive(Default)]
pub(crate) struct Readiness {
    parts: Mutex<Vec<(String, Check)>>,
    continuously: AtomicBool,
    latched: AtomicBool,
    stopping: AtomicBool,
}

impl Readiness {
    /// A new part, not ready until its flag is set.
    pub(crate) fn register(&self, name: &str) -> ReadyFlag {
        let f = ReadyFlag(Arc::new(AtomicBool::new(false)));
        let g = f.clone();
        self.register_check(name, move || g.get());
        f
    }

    /// A part whose readiness `check` reads (e.g. a source's synced flag).
    pub(crate) fn register_check(
        &self,
        name: &str,
        check: impl Fn() -> bool + Send + Sync + 'static,
    ) {
        self.parts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((name.to_string(), Box::new(check)));
    }

    /// `monitor continuously`: never latch.
    pub(crate) fn set_continuously(&self, on: bool) {
        self.continuously.store(on, Ordering::Relaxed);
    }

    /// From now on `/ready` says `Shutting down`.
    pub(crate) fn stopping(&self) {
        self.stopping.store(true, Ordering::Release);
    }

    /// `Ok` when ready, else the reason `/ready` gives.
    pub(crate) fn check(&self) -> Result<(), String> {
        if self.stopping.load(Ordering::Acquire) {
            return Err("Shutting down".into());
        }
        let continuously = self.continuously.load(Ordering::Relaxed);
        if !continuously && self.latched.load(Ordering::Acquire) {
            return Ok(());
        }
        let parts = self.parts.lock().unwrap_or_else(|e| e.into_inner());
        let mut not: Vec<&str> = parts
            .iter()
            .filter(|(_, ready)| !ready())
            .map(|(n, _)| n.as_str())
            .collect();
        not.sort_unstable();
        not.dedup();
        if not.is_empty() {
            self.latched.store(true, Ordering::Release);
            Ok(())
        } else {
            Err(not.join(","))
        }
    }
}
