//! One process-wide metrics registry in the Prometheus text format, with CoreDNS's names.
//!
//! Series are created (under a lock) when a server block is built or a label set is first
//! seen; the query path then only touches atomics. Counters are keyed by their labels, so a
//! reload that builds new plugins keeps counting in the same series.
pub(crate) mod process;
pub(crate) mod registry;

pub(crate) use registry::{global, Counter, Gauge, Histogram, LazySeries};

/// CoreDNS's duration buckets (`plugin.TimeBuckets`): 0.25 ms doubling to 8 s.
pub(crate) const TIME_BUCKETS: &[f64] = &[
    0.00025, 0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024,
    2.048, 4.096, 8.192,
];

/// CoreDNS's request and response size buckets, in bytes.
pub(crate) const SIZE_BUCKETS: &[f64] = &[
    0.0, 100.0, 200.0, 300.0, 400.0, 511.0, 1023.0, 2047.0, 4095.0, 8291.0, 16e3, 32e3, 48e3, 64e3,
];
