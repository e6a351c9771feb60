//! Input of `kdns migrate kube-dns`: the `kube-system/kube-dns` ConfigMap's data and the
//! `--domain` of the kube-dns Deployment, from a file (YAML or JSON: a ConfigMap, optionally
//! with the Deployment, as documents or a `List`) or from the cluster of a kubeconfig.
//! Kubernetes types stop here; the translation is [`crate::migrate`]'s.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use k8s_openapi::api::apps::v1 as apps;
use k8s_openapi::api::core::v1 as core;
use kube::api::Api;
use serde::Deserialize;

use super::client::{self, explain, SourceError};

/// The name of the ConfigMap and of the Deployment in `kube-system`.
const NAME: &str = "kube-dns";
const NAMESPACE: &str = "kube-system";

/// What kube-dns was configured with.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct KubeDnsInput {
    /// The ConfigMap's `data` (empty when there is none: kube-dns then runs on its defaults).
    pub data: BTreeMap<String, String>,
    /// The `--domain` of the kube-dns container, if a Deployment was read and sets it.
    pub domain: Option<String>,
    /// Facts worth telling the user (no ConfigMap, no Deployment).
    pub notes: Vec<String>,
}

/// Why the input could not be read.
#[derive(Debug, thiserror::Error)]
pub enum KubeDnsInputError {
    /// The file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not YAML/JSON, or an object in it is not what its kind says.
    #[error("{}: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// No API client could be built from the kubeconfig.
    #[error(transparent)]
    Client(#[from] SourceError),
    /// The API server refused or failed the request.
    #[error("kubernetes API: {0}")]
    Api(String),
}

/// Reads the kube-dns ConfigMap (and, if the file holds it, the kube-dns Deployment) from
/// `path`. One ConfigMap of any name is taken; of several, the one named `kube-dns`.
pub fn from_file(path: &Path) -> Result<KubeDnsInput, KubeDnsInputError> {
    let text = std::fs::read_to_string(path).map_err(|source| KubeDnsInputError::Io {
        path: path.into(),
        source,
    })?;
    from_text(&text).map_err(|message| KubeDnsInputError::Parse {
        path: path.into(),
        message,
    })
}

fn from_text(text: &str) -> Result<KubeDnsInput, String> {
    let mut objects = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(text) {
        let value = serde_yaml::Value::deserialize(doc).map_err(|e| e.to_string())?;
        match value.get("items").and_then(|i| i.as_sequence()) {
            Some(items) if kind_of(&value).ends_with("List") => objects.extend(items.clone()),
            _ if value.is_null() => {}
            _ => objects.push(value),
        }
    }
    let named = |kind: &str| -> Vec<(String, serde_yaml::Value)> {
        objects
            .iter()
            .filter(|v| kind_of(v) == kind)
            .map(|v| {
                let name = v.get("metadata").and_then(|m| m.get("name"));
                let name = name.and_then(|n| n.as_str()).unwrap_or_default();
                (name.to_string(), v.clone())
            })
            .collect()
    };
    let mut maps = named("ConfigMap");
    let deployments = named("Deployment");
    let chosen = match maps.len() {
        0 => return Err("no ConfigMap in this file (give the kube-dns ConfigMap: kubectl -n kube-system get configmap kube-dns -o yaml)".into()),
        1 => maps.remove(0),
        n => maps
            .into_iter()
            .find(|(name, _)| name == NAME)
            .ok_or(format!("{n} ConfigMaps and none is named {NAME}"))?,
    };
    let cm: core::ConfigMap =
        serde_yaml::from_value(chosen.1).map_err(|e| format!("ConfigMap {}: {e}", chosen.0))?;
    let mut input = KubeDnsInput {
        data: cm.data.unwrap_or_default().into_iter().collect(),
        ..Default::default()
    };
    if let Some((name, v)) = deployments.into_iter().find(|(n, _)| n == NAME) {
        let d: apps::Deployment =
            serde_yaml::from_value(v).map_err(|e| format!("Deployment {name}: {e}"))?;
        input.domain = domain_of(&d);
    }
    Ok(input)
}

fn kind_of(v: &serde_yaml::Value) -> &str {
    v.get("kind").and_then(|k| k.as_str()).unwrap_or_default()
}

/// The `--domain` of the Deployment's containers (`--domain=cluster.local.` or
/// `--domain cluster.local.`), as written.
fn domain_of(d: &apps::Deployment) -> Option<String> {
    let spec = d.spec.as_ref()?.template.spec.as_ref()?;
    spec.containers.iter().find_map(|c| {
        let words: Vec<&String> = c
            .command
            .iter()
            .flatten()
            .chain(c.args.iter().flatten())
            .collect();
        words
            .iter()
            .enumerate()
            .find_map(|(i, w)| match w.strip_prefix("--domain") {
                Some(rest) if rest.starts_with('=') => Some(rest[1..].to_string()),
                Some("") => words.get(i + 1).map(|s| s.to_string()),
                _ => None,
            })
    })
}

/// Reads `kube-system/kube-dns` (ConfigMap and Deployment) from the cluster `kubeconfig`
/// points at (`None`: `$KUBECONFIG` or `~/.kube/config`), in `context`. Either may be absent.
pub async fn from_cluster(
    kubeconfig: Option<&Path>,
    context: Option<&str>,
) -> Result<KubeDnsInput, KubeDnsInputError> {
    let config = client::kubeconfig(kubeconfig, context).await?;
    let client = client::build(config)?;
    let fail = |what: &str, e: &kube::Error| match e {
        kube::Error::Api(s) if s.code == 403 => KubeDnsInputError::Api(format!(
            "forbidden: migrating needs `get` on {what} in {NAMESPACE}: {}",
            s.message
        )),
        _ => KubeDnsInputError::Api(explain(what, "`get`", e)),
    };
    let maps: Api<core::ConfigMap> = Api::namespaced(client.clone(), NAMESPACE);
    let deployments: Api<apps::Deployment> = Api::namespaced(client, NAMESPACE);
    let mut input = KubeDnsInput::default();
    match maps
        .get_opt(NAME)
        .await
        .map_err(|e| fail("configmaps", &e))?
    {
        Some(cm) => input.data = cm.data.unwrap_or_default().into_iter().collect(),
        None => input.notes.push(format!(
            "no ConfigMap {NAMESPACE}/{NAME}: kube-dns runs on its defaults"
        )),
    }
    match deployments
        .get_opt(NAME)
        .await
        .map_err(|e| fail("deployments", &e))?
    {
        Some(d) => input.domain = domain_of(&d),
        None => input.notes.push(format!(
            "no Deployment {NAMESPACE}/{NAME} to read --domain from"
        )),
    }
    Ok(input)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata: {name: kube-dns, namespace: kube-system}
spec:
  selector: {matchLabels: {k8s-app: kube-dns}}
  template:
    spec:
      containers:
      - name: kubedns
        image: registry.k8s.io/dns/k8s-dns-kube-dns:1.22.28
        args: [\"--domain=example.internal.\", \"--dns-port=10053\", \"--config-dir=/kube-dns-config\"]
      - name: dnsmasq
        image: registry.k8s.io/dns/k8s-dns-dnsmasq-nanny:1.22.28
        args: [\"--\", \"--server=/example.internal/127.0.0.1#10053\"]
";

    const CONFIGMAP: &str = "apiVersion: v1
kind: ConfigMap
metadata:
  name: kube-dns
  namespace: kube-system
data:
  stubDomains: |
    {\"acme.local\": [\"1.2.3.4\"]}
  upstreamNameservers: |
    [\"8.8.8.8\", \"8.8.4.4\"]
";

    #[test]
    fn files_table() {
        let list = format!(
            "{{\"apiVersion\": \"v1\", \"kind\": \"List\", \"items\": [{}]}}",
            serde_json::to_string(&serde_yaml::from_str::<serde_json::Value>(CONFIGMAP).unwrap())
                .unwrap()
        );
        let other = CONFIGMAP.replace("name: kube-dns", "name: other");
        // (file text, the upstreamNameservers value, the domain)
        let cases: Vec<(String, Option<&str>, Option<&str>)> = vec![
            (CONFIGMAP.into(), Some("[\"8.8.8.8\", \"8.8.4.4\"]\n"), None),
            (
                format!("{CONFIGMAP}---\n{DEPLOYMENT}"),
                Some("[\"8.8.8.8\", \"8.8.4.4\"]\n"),
                Some("example.internal."),
            ),
            (list, Some("[\"8.8.8.8\", \"8.8.4.4\"]\n"), None),
            (other.clone(), Some("[\"8.8.8.8\", \"8.8.4.4\"]\n"), None),
            (
                format!("{other}---\n{}", CONFIGMAP.replace("8.8.4.4", "9.9.9.9")),
                Some("[\"8.8.8.8\", \"9.9.9.9\"]\n"),
                None,
            ),
            (
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: kube-dns}\n".into(),
                None,
                None,
            ),
        ];
        for (text, upstream, domain) in cases {
            let got = from_text(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
            assert_eq!(
                got.data.get("upstreamNameservers").map(String::as_str),
                upstream,
                "{text}"
            );
            assert_eq!(got.domain.as_deref(), domain, "{text}");
        }
    }

    #[test]
    fn bad_files_table() {
        let two = format!(
            "{CONFIGMAP}---\n{}",
            CONFIGMAP.replace("name: kube-dns", "name: other")
        )
        .replace("name: kube-dns", "name: x");
        for (text, want) in [
            (DEPLOYMENT.to_string(), "no ConfigMap in this file"),
            (two, "2 ConfigMaps and none is named kube-dns"),
            ("a: [".into(), "did not find expected"),
            (
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: kube-dns}\ndata: [1]\n".into(),
                "ConfigMap kube-dns: ",
            ),
        ] {
            let e = from_text(&text).unwrap_err();
            assert!(e.contains(want), "{e}");
        }
    }

    #[test]
    fn domain_flag_forms() {
        for (args, want) in [
            (vec!["--domain=cluster.local."], Some("cluster.local.")),
            (vec!["--dns-port=10053", "--domain", "a.b"], Some("a.b")),
            (vec!["--domainx=a"], None),
            (vec!["--domain"], None),
        ] {
            let mut d: apps::Deployment = serde_yaml::from_str(DEPLOYMENT).unwrap();
            let spec = d.spec.as_mut().unwrap().template.spec.as_mut().unwrap();
            spec.containers[0].args = Some(args.iter().map(|s| s.to_string()).collect());
            spec.containers.truncate(1);
            assert_eq!(domain_of(&d).as_deref(), want, "{args:?}");
        }
    }
}
