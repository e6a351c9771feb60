//! The kubelet's service environment variables (filled in by the env-var work).
