//! Which iptables the node uses: kube-proxy and the kubelet write their rules with one of
//! iptables-legacy or iptables-nft, and kdns's rules must go beside theirs (as
//! iptables-wrapper picks for node-cache's image): the one holding kube's hint chains
//! (`KUBE-IPTABLES-HINT`, `KUBE-KUBELET-CANARY`), else the one with more rules.
use super::command::run;

/// An iptables backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    /// `iptables`, whatever it is (an image with only one).
    Plain,
    /// `iptables-legacy` (x_tables).
    Legacy,
    /// `iptables-nft` (nf_tables).
    Nft,
}

impl Backend {
    /// The program for IPv4 (`v6`: IPv6) rules.
    pub(crate) fn program(self, v6: bool) -> &'static str {
        match (self, v6) {
            (Backend::Plain, false) => "iptables",
            (Backend::Plain, true) => "ip6tables",
            (Backend::Legacy, false) => "iptables-legacy",
            (Backend::Legacy, true) => "ip6tables-legacy",
            (Backend::Nft, false) => "iptables-nft",
            (Backend::Nft, true) => "ip6tables-nft",
        }
    }

    /// `--iptables`: `auto`, `legacy`, `nft` or `iptables` (plain).
    pub(crate) fn parse(s: &str) -> Result<Option<Backend>, String> {
        match s {
            "auto" => Ok(None),
            "legacy" => Ok(Some(Backend::Legacy)),
            "nft" => Ok(Some(Backend::Nft)),
            "iptables" => Ok(Some(Backend::Plain)),
            _ => Err(format!("{s:?}: auto, legacy, nft or iptables")),
        }
    }
}

/// The backend this node uses (`iptables-legacy-save` and `iptables-nft-save` asked).
pub(crate) fn detect() -> Backend {
    let save = |p: &str| run(p, &[]).ok().filter(|r| r.status == 0).map(|r| r.output);
    choose(
        save("iptables-legacy-save").as_deref(),
        save("iptables-nft-save").as_deref(),
    )
}

/// The choice from the two listings (`None`: that tool is missing or failed).
pub(crate) fn choose(legacy: Option<&str>, nft: Option<&str>) -> Backend {
    let hinted = |t: &str| t.contains("KUBE-IPTABLES-HINT") || t.contains("KUBE-KUBELET-CANARY");
    let rules = |t: &str| t.lines().filter(|l| l.starts_with("-A ")).count();
    match (legacy, nft) {
        (None, None) => Backend::Plain,
        (Some(_), None) => Backend::Legacy,
        (None, Some(_)) => Backend::Nft,
        (Some(_), Some(n)) if hinted(n) => Backend::Nft,
        (Some(l), Some(_)) if hinted(l) => Backend::Legacy,
        (Some(l), Some(n)) if rules(l) > rules(n) => Backend::Legacy,
        (Some(_), Some(_)) => Backend::Nft,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices() {
        let hint = "*mangle\n:KUBE-IPTABLES-HINT - [0:0]\nCOMMIT\n";
        let canary = "*mangle\n:KUBE-KUBELET-CANARY - [0:0]\nCOMMIT\n";
        let two = "*filter\n-A INPUT -j ACCEPT\n-A OUTPUT -j ACCEPT\nCOMMIT\n";
        let one = "*filter\n-A INPUT -j ACCEPT\nCOMMIT\n";
        for (legacy, nft, want) in [
            (None, None, Backend::Plain),
            (Some(""), None, Backend::Legacy),
            (None, Some(""), Backend::Nft),
            (Some(hint), Some(two), Backend::Legacy),
            (Some(canary), Some(""), Backend::Legacy),
            (Some(two), Some(hint), Backend::Nft),
            (Some(hint), Some(hint), Backend::Nft),
            (Some(two), Some(one), Backend::Legacy),
            (Some(one), Some(two), Backend::Nft),
            (Some(""), Some(""), Backend::Nft),
        ] {
            assert_eq!(choose(legacy, nft), want, "{legacy:?} {nft:?}");
        }
        assert_eq!(Backend::Legacy.program(true), "ip6tables-legacy");
        assert_eq!(Backend::parse("auto"), Ok(None));
        assert_eq!(Backend::parse("nft"), Ok(Some(Backend::Nft)));
        assert!(Backend::parse("xt").is_err());
    }
}
