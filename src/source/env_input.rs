//! Inputs of `kdns env`: Kubernetes Services and a Pod's container environment, converted to the
//! plain types of [`crate::envvars`]. Kubernetes types stop here.
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1 as core;
use kube::api::{Api, ListParams};

use super::client::{self, explain, SourceError};
use super::manifests::{self, ManifestError, Object};
use crate::envvars::{ContainerEnv, ContainerEnvVar, EnvValue, Service, ServicePort, ServiceRef};

/// Why the input of `kdns env` could not be read.
#[derive(Debug, thiserror::Error)]
pub enum EnvInputError {
    /// A manifest does not load.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// No API client could be built from the kubeconfig.
    #[error(transparent)]
    Client(#[from] SourceError),
    /// The API server refused or failed the list (worded as the server logs it).
    #[error("kubernetes API: {0}")]
    Api(String),
    /// The Pod file holds no Pod.
    #[error("{}: no Pod in this file", .0.display())]
    NoPod(PathBuf),
    /// The Pod file holds several Pods.
    #[error("{}: {count} Pods in this file; give a file with one", path.display())]
    ManyPods {
        /// The file.
        path: PathBuf,
        /// How many Pods it holds.
        count: usize,
    },
    /// The Pod has no container of the requested name.
    #[error("{}: the Pod has no container named {name:?} (it has: {have})", path.display())]
    NoSuchContainer {
        /// The file.
        path: PathBuf,
        /// The requested container.
        name: String,
        /// The containers it has, comma-separated.
        have: String,
    },
    /// The Pod has no containers at all.
    #[error("{}: the Pod has no containers", .0.display())]
    NoContainers(PathBuf),
}

/// Services, plus the ones that have no cluster IP only because none was written down.
#[derive(Debug, Default)]
pub struct ServiceList {
    /// Every Service, in list order.
    pub services: Vec<Service>,
    /// Services whose `spec.clusterIP` is absent or empty although their type is not
    /// ExternalName: an API server would have allocated one, a manifest just lacks it.
    pub unallocated: Vec<ServiceRef>,
}

/// A Service in the plain form. A missing namespace means `default`, as with `kubectl apply`.
pub fn service(s: &core::Service) -> Service {
    let spec = s.spec.as_ref();
    let ports = spec
        .and_then(|sp| sp.ports.as_ref())
        .map(|ps| {
            ps.iter()
                .map(|p| ServicePort {
                    name: p.name.clone().unwrap_or_default(),
                    port: p.port,
                    protocol: p.protocol.clone().unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default();
    Service {
        namespace: s
            .metadata
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into()),
        name: s.metadata.name.clone().unwrap_or_default(),
        cluster_ip: spec
            .and_then(|sp| sp.cluster_ip.clone())
            .unwrap_or_default(),
        ports,
    }
}

fn list_of<'a>(objects: impl IntoIterator<Item = &'a core::Service>) -> ServiceList {
    let mut out = ServiceList::default();
    for s in objects {
        let plain = service(s);
        let external = s.spec.as_ref().and_then(|sp| sp.type_.as_deref()) == Some("ExternalName");
        if plain.cluster_ip.is_empty() && !external {
            out.unallocated.push((&plain).into());
        }
        out.services.push(plain);
    }
    out
}

/// Every Service in the manifests under `dir` (the shared loader of [`manifests`]).
pub fn services_from_manifests(dir: &Path) -> Result<ServiceList, EnvInputError> {
    let objects = manifests::load_dir(dir)?;
    Ok(list_of(objects.iter().filter_map(|o| match &o.object {
        Object::Service(s) => Some(s.as_ref()),
        _ => None,
    })))
}

/// Every Service of the cluster `kubeconfig` points at (`None`: `$KUBECONFIG` or
/// `~/.kube/config`), in `context` (`None`: the current context). Lists in pages of 500.
pub async fn services_from_kubeconfig(
    kubeconfig: Option<&Path>,
    context: Option<&str>,
) -> Result<ServiceList, EnvInputError> {
    let config = client::kubeconfig(kubeconfig, context).await?;
    let api: Api<core::Service> = Api::all(client::build(config)?);
    let mut params = ListParams::default().limit(500);
    let mut all = Vec::new();
    loop {
        let page = api
            .list(&params)
            .await
            .map_err(|e| EnvInputError::Api(explain("services", "`list`", &e)))?;
        all.extend(page.items);
        match page.metadata.continue_.as_deref() {
            Some(token) if !token.is_empty() => params = params.continue_token(token),
            _ => break,
        }
    }
    Ok(list_of(all.iter()))
}

/// What `--pod FILE` contributes.
#[derive(Debug)]
pub struct PodInput {
    /// `metadata.namespace`, if the file sets it.
    pub namespace: Option<String>,
    /// `spec.enableServiceLinks`, if the file sets it.
    pub enable_service_links: Option<bool>,
    /// The container whose environment this is.
    pub container: String,
    /// That container's `env`, as written.
    pub env: ContainerEnv,
    /// What could not be taken into account offline (`valueFrom` sources, `envFrom`).
    pub notes: Vec<String>,
}

/// Reads the single Pod in `path` and the environment of its container `container` (default:
/// the first container; init containers can be named too). `namespace` stands in for a missing
/// `metadata.namespace` in downward-API references.
pub fn pod_from_file(
    path: &Path,
    container: Option<&str>,
    namespace: &str,
) -> Result<PodInput, EnvInputError> {
    let pods: Vec<core::Pod> = manifests::load_file(path)?
        .into_iter()
        .filter_map(|o| match o.object {
            Object::Pod(p) => Some(*p),
            _ => None,
        })
        .collect();
    let pod = match pods.len() {
        0 => return Err(EnvInputError::NoPod(path.into())),
        1 => pods.into_iter().next().expect("one pod"),
        count => {
            return Err(EnvInputError::ManyPods {
                path: path.into(),
                count,
            })
        }
    };
    let spec = pod.spec.clone().unwrap_or_default();
    let all: Vec<&core::Container> = spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .collect();
    let chosen = match container {
        Some(name) => all
            .iter()
            .find(|c| c.name == name)
            .copied()
            .ok_or_else(|| EnvInputError::NoSuchContainer {
                path: path.into(),
                name: name.into(),
                have: all
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })?,
        None => spec
            .containers
            .first()
            .ok_or_else(|| EnvInputError::NoContainers(path.into()))?,
    };
    let mut notes = Vec::new();
    let mut env = ContainerEnv::default();
    if let Some(from) = &chosen.env_from {
        for src in from {
            let what = match (&src.config_map_ref, &src.secret_ref) {
                (Some(c), _) => format!("ConfigMap {}", c.name),
                (_, Some(s)) => format!("Secret {}", s.name),
                _ => "an unknown source".to_string(),
            };
            notes.push(format!(
                "envFrom {what} is not read offline; its keys are missing here"
            ));
        }
    }
    for e in chosen.env.iter().flatten() {
        let value = env_value(&pod, namespace, e, &mut notes);
        env.env.push(ContainerEnvVar {
            name: e.name.clone(),
            value,
        });
    }
    Ok(PodInput {
        namespace: pod.metadata.namespace.clone(),
        enable_service_links: spec.enable_service_links,
        container: chosen.name.clone(),
        env,
        notes,
    })
}

/// The kubelet's choice: a non-empty `value` (expanded later), else `valueFrom`, else `""`.
fn env_value(pod: &core::Pod, ns: &str, e: &core::EnvVar, notes: &mut Vec<String>) -> EnvValue {
    if let Some(v) = e.value.as_deref().filter(|v| !v.is_empty()) {
        return EnvValue::Literal(v.to_string());
    }
    let Some(from) = &e.value_from else {
        return EnvValue::Literal(String::new());
    };
    if let Some(f) = &from.field_ref {
        if let Some(v) = field_value(pod, ns, &f.field_path) {
            return EnvValue::Resolved(v);
        }
        notes.push(format!(
            "{}: fieldRef {} has no value in the manifest; left out",
            e.name, f.field_path
        ));
        return EnvValue::Unresolved;
    }
    let what = if let Some(c) = &from.config_map_key_ref {
        format!("ConfigMap {} key {}", c.name, c.key)
    } else if let Some(s) = &from.secret_key_ref {
        format!("Secret {} key {}", s.name, s.key)
    } else if let Some(r) = &from.resource_field_ref {
        format!("resourceFieldRef {}", r.resource)
    } else {
        "its valueFrom source".to_string()
    };
    notes.push(format!("{}: {what} is not read offline; left out", e.name));
    EnvValue::Unresolved
}

/// The downward-API fields a manifest can answer.
fn field_value(pod: &core::Pod, ns: &str, path: &str) -> Option<String> {
    let m = &pod.metadata;
    let spec = pod.spec.as_ref();
    let status = pod.status.as_ref();
    let keyed = |prefix: &str, map: Option<&std::collections::BTreeMap<String, String>>| {
        let key = path.strip_prefix(prefix)?.strip_suffix("']")?;
        map?.get(key).cloned()
    };
    match path {
        "metadata.name" => m.name.clone(),
        "metadata.namespace" => Some(m.namespace.clone().unwrap_or_else(|| ns.into())),
        "metadata.uid" => m.uid.clone(),
        "spec.nodeName" => spec.and_then(|s| s.node_name.clone()),
        "spec.serviceAccountName" => spec.and_then(|s| s.service_account_name.clone()),
        "status.podIP" => status.and_then(|s| s.pod_ip.clone()),
        "status.hostIP" => status.and_then(|s| s.host_ip.clone()),
        _ => keyed("metadata.labels['", m.labels.as_ref())
            .or_else(|| keyed("metadata.annotations['", m.annotations.as_ref())),
    }
}
