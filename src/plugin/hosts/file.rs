//! The hosts file behind a `hosts` directive: read at start, then checked every `reload` period
//! by a thread of its own. A changed file (modification time or size, as CoreDNS) is parsed into
//! a new [`Table`] that is swapped in whole; queries load it without a lock. A file that cannot
//! be read keeps the last entries (warned once) until it can be read again.
//!
//! Metrics as CoreDNS: `coredns_hosts_entries{hostsfile}` (the file's and the inline entries)
//! and `coredns_hosts_reload_timestamp_seconds` (the modification time of the file last read),
//! both set on each read of a changed file.
use std::fs::File;
use std::io::Read;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arc_swap::{ArcSwap, Guard};

use super::table::Table;
use crate::dns::DataVersion;
use crate::metrics::global;

/// A hosts file and its last good contents.
pub struct HostsFile {
    path: PathBuf,
    zones: Vec<String>,
    reverse: bool,
    /// Entries of the directive's inline lines, for `coredns_hosts_entries`.
    inline_len: usize,
    table: ArcSwap<Table>,
    /// The modification time and size of the contents in `table` (only the reader uses it).
    stamp: Mutex<Option<(SystemTime, u64)>>,
    /// The last read failed (and was warned about).
    failing: AtomicBool,
    /// Bumped with each new table: replayed UDP answers from before are dropped.
    changed: DataVersion,
}

impl HostsFile {
    /// Reads `path` now (names in `zones`; PTR entries unless `!reverse`).
    pub fn open(
        path: PathBuf,
        zones: Vec<String>,
        reverse: bool,
        inline_len: usize,
        changed: DataVersion,
    ) -> Arc<Self> {
        let f = Arc::new(HostsFile {
            path,
            zones,
            reverse,
            inline_len,
            table: ArcSwap::from_pointee(Table::default()),
            stamp: Mutex::new(None),
            failing: AtomicBool::new(false),
            changed,
        });
        f.refresh();
        f
    }

    /// The entries last read (lock-free).
    pub fn table(&self) -> Guard<Arc<Table>> {
        self.table.load()
    }

    /// Checks the file every `every` on a thread of its own, until this file is dropped (a
    /// reload that builds a new chain). Zero: never.
    pub fn watch(self: &Arc<Self>, every: Duration) {
        if every.is_zero() {
            return;
        }
        let every = every.max(Duration::from_millis(1));
        let weak = Arc::downgrade(self);
        let spawned = std::thread::Builder::new()
            .name("kdns-hosts".into())
            .spawn(move || loop {
                std::thread::sleep(every);
                match weak.upgrade() {
                    Some(f) => f.refresh(),
                    None => return,
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(
                "hosts: {}: cannot start the reload thread: {e}",
                self.path.display()
            );
        }
    }

    /// Reads the file if its modification time or size changed; keeps the last entries when
    /// it cannot be read.
    pub fn refresh(&self) {
        let mut stamp = self.stamp.lock().unwrap_or_else(|e| e.into_inner());
        match self.read_if_changed(*stamp) {
            Ok(None) => {}
            Ok(Some((table, mtime, size))) => {
                self.publish(table, mtime);
                *stamp = Some((mtime, size));
            }
            Err(e) => {
                if !self.failing.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        "hosts: {}: cannot read it ({e}); answering with the last entries read",
                        self.path.display()
                    );
                }
                return;
            }
        }
        if self.failing.swap(false, Ordering::Relaxed) {
            tracing::info!("hosts: {}: readable again", self.path.display());
        }
    }

    /// The new table and the file's stamp, or `None` when the file is unchanged.
    fn read_if_changed(
        &self,
        last: Option<(SystemTime, u64)>,
    ) -> std::io::Result<Option<(Table, SystemTime, u64)>> {
        let mut file = File::open(&self.path)?;
        let meta = file.metadata()?;
        let (mtime, size) = (meta.modified()?, meta.len());
        if last == Some((mtime, size)) {
            return Ok(None);
        }
        let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        file.read_to_end(&mut bytes)?;
        let text = String::from_utf8_lossy(&bytes);
        Ok(Some((
            Table::parse(&text, &self.zones, self.reverse),
            mtime,
            size,
        )))
    }

    fn publish(&self, table: Table, mtime: SystemTime) {
        let entries = self.inline_len + table.len();
        tracing::debug!(
            "hosts: {}: parsed {} entries",
            self.path.display(),
            table.len()
        );
        self.table.store(Arc::new(table));
        self.changed.bump();
        let path = self.path.display().to_string();
        global()
            .gauge(
                "coredns_hosts_entries",
                "The combined number of entries in hosts and Corefile.",
                &[("hostsfile", &path)],
            )
            .set(i64::try_from(entries).unwrap_or(i64::MAX));
        let secs = mtime
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        global()
            .gauge(
                "coredns_hosts_reload_timestamp_seconds",
                "The timestamp of the last reload of hosts file.",
                &[],
            )
            .set(secs);
    }
}
