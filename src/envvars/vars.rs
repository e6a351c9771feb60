//! The variables of one service: the kubelet's `FromServices` for a single service.
use super::model::{has_cluster_ip, EnvVar, Service};

/// The kubelet's `makeEnvVariableName`: every `-` becomes `_`, then upper case. Nothing else
/// changes (dots stay, a leading digit gets no prefix), so input that skipped API validation
/// can give names a shell cannot use.
pub fn env_var_name(name: &str) -> String {
    name.replace('-', "_").to_uppercase()
}

/// Go's `net.JoinHostPort`: brackets when the host contains a `:`.
fn join_host_port(host: &str, port: i32) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// The variables of `svc` in the kubelet's emission order, or `None` when the service has a
/// cluster IP but no ports (the kubelet would crash on it). A service without a cluster IP gives
/// `Some(vec![])`.
///
/// The list can name a variable twice only for input that skipped API validation (two ports with
/// the same name, or the same port and protocol twice); the kubelet keeps the last value.
pub fn service_vars(svc: &Service) -> Option<Vec<EnvVar>> {
    if !has_cluster_ip(&svc.cluster_ip) {
        return Some(Vec::new());
    }
    let first = svc.ports.first()?;
    let prefix = env_var_name(&svc.name);
    let ip = svc.cluster_ip.as_str();
    let mut out = Vec::with_capacity(3 + 5 * svc.ports.len());
    out.push(EnvVar::new(format!("{prefix}_SERVICE_HOST"), ip));
    let port_name = format!("{prefix}_SERVICE_PORT");
    out.push(EnvVar::new(port_name.clone(), first.port.to_string()));
    for p in svc.ports.iter().filter(|p| !p.name.is_empty()) {
        out.push(EnvVar::new(
            format!("{port_name}_{}", env_var_name(&p.name)),
            p.port.to_string(),
        ));
    }
    for (i, p) in svc.ports.iter().enumerate() {
        let proto = if p.protocol.is_empty() {
            "TCP"
        } else {
            p.protocol.as_str()
        };
        let lower = proto.to_lowercase();
        let url = format!("{lower}://{}", join_host_port(ip, p.port));
        if i == 0 {
            out.push(EnvVar::new(format!("{prefix}_PORT"), url.clone()));
        }
        let q = format!("{prefix}_PORT_{}_{}", p.port, proto.to_uppercase());
        out.extend([
            EnvVar::new(q.clone(), url),
            EnvVar::new(format!("{q}_PROTO"), lower),
            EnvVar::new(format!("{q}_PORT"), p.port.to_string()),
            EnvVar::new(format!("{q}_ADDR"), ip),
        ]);
    }
    Some(out)
}
