//! Network namespaces made by the tests (needs root and iproute2): a "pod" with its own
//! resolv.conf (`/etc/netns/NAME/resolv.conf`, bind-mounted by `ip netns exec`), joined to
//! other namespaces by veth pairs. Everything is removed on drop, also when a test fails.
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

static NEXT: AtomicUsize = AtomicUsize::new(0);

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run ip ({e}); install iproute2"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn must(r: Result<(), String>) {
    if let Err(e) = r {
        panic!(
            "cannot set up the network namespaces for this test (it needs root and iproute2): {e}"
        );
    }
}

pub(crate) struct Netns {
    pub name: String,
}

impl Netns {
    /// A new namespace with loopback up, which answers every packet to a closed port with an
    /// ICMP error: without rate limits, so a test that polls a server while it starts does not
    /// use up the errors a later check expects ("connection refused" rather than a timeout).
    pub(crate) fn new(tag: &str) -> Netns {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let name = format!("kdns-{tag}-{}-{n}", std::process::id());
        must(ip(&["netns", "add", &name]));
        let ns = Netns { name };
        must(ip(&["-n", &ns.name, "link", "set", "lo", "up"]));
        let (code, out) = ns.run(&[
            "sh",
            "-c",
            "echo 0 >/proc/sys/net/ipv4/icmp_ratelimit && echo 0 >/proc/sys/net/ipv6/icmp/ratelimit",
        ]);
        assert_eq!(code, 0, "sysctl in {}: {out}", ns.name);
        ns
    }

    /// The command prefix that runs a program inside.
    pub(crate) fn prefix(&self) -> Vec<&str> {
        vec!["ip", "netns", "exec", &self.name]
    }

    /// Runs a program inside; returns (exit code, stdout + stderr).
    pub(crate) fn run(&self, cmd: &[&str]) -> (i32, String) {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.name])
            .args(cmd)
            .output()
            .unwrap_or_else(|e| panic!("ip netns exec {} {cmd:?}: {e}", self.name));
        (
            out.status.code().unwrap_or(-1),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }

    /// The namespace's /etc/resolv.conf (as `ip netns exec` shows it).
    pub(crate) fn resolv_conf(&self, text: &str) {
        let dir = format!("/etc/netns/{}", self.name);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("mkdir {dir}: {e} (needs root)"));
        std::fs::write(format!("{dir}/resolv.conf"), text).unwrap();
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = ip(&["netns", "del", &self.name]);
        let _ = std::fs::remove_dir_all(format!("/etc/netns/{}", self.name));
    }
}

/// A veth pair between two namespaces with an address (CIDR) on each end.
pub(crate) fn link(a: &Netns, a_cidr: &str, b: &Netns, b_cidr: &str) {
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    let id = std::process::id() % 100_000;
    let (va, vb) = (format!("k{id}x{n}a"), format!("k{id}x{n}b"));
    must(ip(&[
        "link", "add", &va, "netns", &a.name, "type", "veth", "peer", "name", &vb, "netns", &b.name,
    ]));
    must(ip(&["-n", &a.name, "addr", "add", a_cidr, "dev", &va]));
    must(ip(&["-n", &b.name, "addr", "add", b_cidr, "dev", &vb]));
    must(ip(&["-n", &a.name, "link", "set", &va, "up"]));
    must(ip(&["-n", &b.name, "link", "set", &vb, "up"]));
}
