//! The registry: metric families of counters, gauges and histograms made of atomics, rendered in
//! the Prometheus text exposition format (version 0.0.4).
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// A monotonically increasing count.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that goes up and down (all of ours are whole numbers).
#[derive(Debug, Default)]
pub struct Gauge(AtomicI64);

impl Gauge {
    pub fn set(&self, v: i64) {
        self.0.store(v, Ordering::Relaxed);
    }
    pub fn add(&self, v: i64) {
        self.0.fetch_add(v, Ordering::Relaxed);
    }
    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Cumulative buckets over fixed bounds. Values are whole units of `1/scale` (nanoseconds for
/// seconds, bytes for sizes), so the sum is an integer atomic too.
#[derive(Debug)]
pub(crate) struct Histogram {
    bounds: &'static [f64],
    /// Non-cumulative: `buckets[i]` counts values in `(bounds[i-1], bounds[i]]`; the last is +Inf.
    buckets: Box<[AtomicU64]>,
    count: AtomicU64,
    sum: AtomicU64,
    scale: f64,
}

impl Histogram {
    fn new(bounds: &'static [f64], scale: f64) -> Self {
        Self {
            bounds,
            buckets: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum: AtomicU64::new(0),
            scale,
        }
    }

    fn observe_units(&self, units: u64) {
        let v = units as f64 / self.scale;
        let i = self
            .bounds
            .iter()
            .position(|b| v <= *b)
            .unwrap_or(self.bounds.len());
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum.fetch_add(units, Ordering::Relaxed);
    }

    /// For histograms made with [`Registry::seconds`].
    pub(crate) fn observe_duration(&self, d: Duration) {
        self.observe_units(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    }

    /// For histograms made with [`Registry::bytes`].
    pub(crate) fn observe(&self, v: u64) {
        self.observe_units(v);
    }

    /// How many values were observed.
    #[cfg(test)]
    pub(crate) fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }
}

/// Series made on first use, then reached without a lock: `get(i, make)` runs `make` once per
/// index (CoreDNS only shows label sets that have been seen).
pub(crate) struct LazySeries<T> {
    cells: Box<[OnceLock<Arc<T>>]>,
}

impl<T> LazySeries<T> {
    pub(crate) fn new(n: usize) -> Self {
        Self {
            cells: (0..n).map(|_| OnceLock::new()).collect(),
        }
    }
    pub(crate) fn get(&self, i: usize, make: impl FnOnce() -> Arc<T>) -> &T {
        self.cells[i].get_or_init(make)
    }
    /// The same series, shared.
    pub(crate) fn get_arc(&self, i: usize, make: impl FnOnce() -> Arc<T>) -> Arc<T> {
        self.cells[i].get_or_init(make).clone()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

enum Series {
    Counter(Arc<Counter>),
    Gauge(Arc<Gauge>),
    Histogram(Arc<Histogram>),
}

struct Family {
    help: &'static str,
    kind: Kind,
    label_names: Vec<&'static str>,
    series: BTreeMap<Vec<String>, Series>,
}

/// Label names and values, in the order the family declares them.
pub(crate) type Labels<'a> = &'a [(&'static str, &'a str)];

/// All metric families of the process.
#[derive(Default)]
pub(crate) struct Registry {
    families: Mutex<BTreeMap<&'static str, Family>>,
}

/// The process-wide registry (`/metrics` shows this one).
pub(crate) fn global() -> &'static Registry {
    static R: OnceLock<Registry> = OnceLock::new();
    R.get_or_init(Registry::default)
}

impl Registry {
    fn with_series<T>(
        &self,
        name: &'static str,
        help: &'static str,
        kind: Kind,
        labels: Labels<'_>,
        f: impl FnOnce(Option<&Series>) -> (Option<Series>, T),
    ) -> T {
        let mut fams = self.families.lock().unwrap_or_else(|e| e.into_inner());
        let fam = fams.entry(name).or_insert_with(|| Family {
            help,
            kind,
            label_names: labels.iter().map(|(k, _)| *k).collect(),
            series: BTreeMap::new(),
        });
        debug_assert_eq!(fam.kind, kind, "{name} registered with two types");
        let key: Vec<String> = labels.iter().map(|(_, v)| v.to_string()).collect();
        let (new, out) = f(fam.series.get(&key));
        if let Some(s) = new {
            fam.series.insert(key, s);
        }
        out
    }

    /// The counter with these labels, made if new.
    pub(crate) fn counter(
        &self,
        name: &'static str,
        help: &'static str,
        labels: Labels<'_>,
    ) -> Arc<Counter> {
        self.with_series(name, help, Kind::Counter, labels, |s| match s {
            Some(Series::Counter(c)) => (None, c.clone()),
            _ => {
                let c = Arc::new(Counter::default());
                (Some(Series::Counter(c.clone())), c)
            }
        })
    }

    /// The gauge with these labels, made if new.
    pub(crate) fn gauge(
        &self,
        name: &'static str,
        help: &'static str,
        labels: Labels<'_>,
    ) -> Arc<Gauge> {
        self.with_series(name, help, Kind::Gauge, labels, |s| match s {
            Some(Series::Gauge(g)) => (None, g.clone()),
            _ => {
                let g = Arc::new(Gauge::default());
                (Some(Series::Gauge(g.clone())), g)
            }
        })
    }

    /// A new gauge that replaces any with these labels (a rebuilt cache starts empty).
    pub(crate) fn fresh_gauge(
        &self,
        name: &'static str,
        help: &'static str,
        labels: Labels<'_>,
    ) -> Arc<Gauge> {
        self.with_series(name, help, Kind::Gauge, labels, |_| {
            let g = Arc::new(Gauge::default());
            (Some(Series::Gauge(g.clone())), g)
        })
    }

    fn histogram(
        &self,
        name: &'static str,
        help: &'static str,
        labels: Labels<'_>,
        bounds: &'static [f64],
        scale: f64,
    ) -> Arc<Histogram> {
        self.with_series(name, help, Kind::Histogram, labels, |s| match s {
            Some(Series::Histogram(h)) => (None, h.clone()),
            _ => {
                let h = Arc::new(Histogram::new(bounds, scale));
                (Some(Series::Histogram(h.clone())), h)
            }
        })
    }

    /// A histogram of durations in seconds.
    pub(crate) fn seconds(
        &self,
        name: &'static str,
        help: &'static str,
        labels: Labels<'_>,
        bounds: &'static [f64],
    ) -> Arc<Histogram> {
        self.histogram(name, help, labels, bounds, 1e9)
    }

    /// A histogram of sizes in bytes.
    pub(crate) fn bytes(
        &self,
        name: &'static str,
        help: &'static str,
        labels: Labels<'_>,
        bounds: &'static [f64],
    ) -> Arc<Histogram> {
        self.histogram(name, help, labels, bounds, 1.0)
    }

    /// Drops every series of a family (CoreDNS resets `coredns_plugin_enabled` on reload).
    pub(crate) fn clear(&self, name: &str) {
        let mut fams = self.families.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(f) = fams.get_mut(name) {
            f.series.clear();
        }
    }

    /// The value of one counter or gauge series, if it exists (for tests).
    #[cfg(test)]
    pub(crate) fn value(&self, name: &str, labels: &[&str]) -> Option<f64> {
        let fams = self.families.lock().unwrap_or_else(|e| e.into_inner());
        let key: Vec<String> = labels.iter().map(|s| s.to_string()).collect();
        match fams.get(name)?.series.get(&key)? {
            Series::Counter(c) => Some(c.get() as f64),
            Series::Gauge(g) => Some(g.get() as f64),
            Series::Histogram(h) => Some(h.count() as f64),
        }
    }

    /// Every family in the text exposition format, then the process metrics.
    pub(crate) fn render(&self) -> String {
        let mut out = String::with_capacity(16 * 1024);
        {
            let fams = self.families.lock().unwrap_or_else(|e| e.into_inner());
            for (name, fam) in fams.iter() {
                if fam.series.is_empty() {
                    continue;
                }
                let _ = writeln!(out, "# HELP {name} {}", escape_help(fam.help));
                let _ = writeln!(out, "# TYPE {name} {}", fam.kind.as_str());
                for (values, s) in &fam.series {
                    let labels = label_text(&fam.label_names, values);
                    match s {
                        Series::Counter(c) => {
                            let _ = writeln!(out, "{name}{} {}", braces(&labels), c.get());
                        }
                        Series::Gauge(g) => {
                            let _ = writeln!(out, "{name}{} {}", braces(&labels), g.get());
                        }
                        Series::Histogram(h) => render_histogram(&mut out, name, &labels, h),
                    }
                }
            }
        }
        super::process::render(&mut out);
        out
    }
}

fn render_histogram(out: &mut String, name: &str, labels: &str, h: &Histogram) {
    let sep = if labels.is_empty() { "" } else { "," };
    let mut cum = 0u64;
    for (i, b) in h.bounds.iter().enumerate() {
        cum += h.buckets[i].load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{b}\"}} {cum}");
    }
    cum += h.buckets[h.bounds.len()].load(Ordering::Relaxed);
    let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {cum}");
    let sum = h.sum.load(Ordering::Relaxed) as f64 / h.scale;
    let _ = writeln!(out, "{name}_sum{} {sum}", braces(labels));
    let _ = writeln!(out, "{name}_count{} {cum}", braces(labels));
}

fn braces(labels: &str) -> String {
    if labels.is_empty() {
        String::new()
    } else {
        format!("{{{labels}}}")
    }
}

fn label_text(names: &[&'static str], values: &[String]) -> String {
    let mut s = String::new();
    for (i, (n, v)) in names.iter().zip(values).enumerate() {
        if i > 0 {
            s.push(',');
        }
        let _ = write!(s, "{n}=\"{}\"", escape_value(v));
    }
    s
}

fn escape_value(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_gauges_and_histograms() {
        let r = Registry::default();
        let c = r.counter("x_requests_total", "Requests.", &[("zone", "a.\"b")]);
        c.inc();
        c.add(2);
        // Same labels: same series.
        r.counter("x_requests_total", "Requests.", &[("zone", "a.\"b")])
            .inc();
        let g = r.gauge("x_entries", "Entries.", &[]);
        g.set(7);
        let h = r.seconds(
            "x_duration_seconds",
            "Durations.",
            &[("server", "dns://:53")],
            &[0.001, 0.01],
        );
        h.observe_duration(Duration::from_micros(500));
        h.observe_duration(Duration::from_millis(5));
        h.observe_duration(Duration::from_secs(1));
        let text = r.render();
        assert!(
            text.contains(
                "# TYPE x_requests_total counter\nx_requests_total{zone=\"a.\\\"b\"} 4\n"
            ),
            "{text}"
        );
        assert!(text.contains("x_entries 7\n"), "{text}");
        assert!(
            text.contains("x_duration_seconds_bucket{server=\"dns://:53\",le=\"0.001\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("x_duration_seconds_bucket{server=\"dns://:53\",le=\"0.01\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("x_duration_seconds_bucket{server=\"dns://:53\",le=\"+Inf\"} 3\n"),
            "{text}"
        );
        assert!(
            text.contains("x_duration_seconds_sum{server=\"dns://:53\"} 1.0055\n"),
            "{text}"
        );
        assert!(
            text.contains("x_duration_seconds_count{server=\"dns://:53\"} 3\n"),
            "{text}"
        );
        assert_eq!(r.value("x_requests_total", &["a.\"b"]), Some(4.0));
    }

    #[test]
    fn fresh_gauge_replaces_and_clear_empties() {
        let r = Registry::default();
        let old = r.fresh_gauge("y", "Y.", &[("k", "v")]);
        old.set(5);
        let new = r.fresh_gauge("y", "Y.", &[("k", "v")]);
        new.set(1);
        old.set(9);
        assert_eq!(r.value("y", &["v"]), Some(1.0));
        r.clear("y");
        assert!(!r.render().contains("\ny{"));
    }

    #[test]
    fn lazy_series_make_once() {
        let l: LazySeries<Counter> = LazySeries::new(3);
        let mut made = 0;
        for _ in 0..3 {
            l.get(1, || {
                made += 1;
                Arc::new(Counter::default())
            })
            .inc();
        }
        assert_eq!(made, 1);
        assert_eq!(l.get(1, || unreachable!()).get(), 3);
    }
}
