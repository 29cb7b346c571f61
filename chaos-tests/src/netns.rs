//! Network namespaces for the nodes, so that links can be cut.
//!
//! ```text
//!   root namespace: harness (clients, workers)      10.213.S.254 on bridge rfc<pid>br
//!        |                 |                 |
//!   veth rfc<pid>h1   veth rfc<pid>h2   veth rfc<pid>h3    <- `ip link set down` cuts a node off
//!        |                 |                 |
//!   netns rfc<pid>n1  netns rfc<pid>n2  netns rfc<pid>n3   node i listens on 10.213.S.i
//! ```
//!
//! Needs root and iproute2. Names carry the harness's pid, so a later run can
//! remove what a killed run left behind.
//!
//! Docker sets the FORWARD chain's policy to DROP and loads br_netfilter,
//! which sends frames crossing any bridge through that chain: node-to-node
//! traffic on our bridge would be dropped. A rule at the top of FORWARD
//! accepts what stays on our bridge (as Docker's own rule does for
//! docker0); it is removed with the bridge.

use std::process::Command;

pub struct Namespaces {
    prefix: String,
    subnet: String,
    nodes: usize,
}

/// Accepts (or stops accepting) forwarding within `bridge`. Without
/// iptables there is no firewall to open; other failures are reported.
fn accept_forwarding(bridge: &str, add: bool) -> Result<(), String> {
    let verb = if add { "-I" } else { "-D" };
    let mut args = vec!["-w", verb, "FORWARD"];
    if add {
        args.push("1");
    }
    args.extend(["-i", bridge, "-o", bridge, "-j", "ACCEPT"]);
    match Command::new("iptables").args(&args).output() {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("cannot run `iptables`: {e}")),
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => Err(format!(
            "`iptables {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )),
    }
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run `ip`: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`ip {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl Namespaces {
    /// Builds the bridge and one namespace per node, or says why it cannot.
    pub fn create(nodes: usize) -> Result<Self, String> {
        remove_leftovers();
        let pid = std::process::id();
        let ns = Namespaces {
            prefix: format!("rfc{pid}"),
            subnet: format!("10.213.{}", pid % 250),
            nodes,
        };
        let result = ns.build();
        if let Err(e) = result {
            drop(ns);
            return Err(e);
        }
        Ok(ns)
    }

    fn build(&self) -> Result<(), String> {
        let bridge = format!("{}br", self.prefix);
        ip(&[
            "link",
            "add",
            &bridge,
            "type",
            "bridge",
            "forward_delay",
            "0",
        ])?;
        ip(&[
            "addr",
            "add",
            &format!("{}.254/24", self.subnet),
            "dev",
            &bridge,
        ])?;
        ip(&["link", "set", &bridge, "up"])?;
        accept_forwarding(&bridge, true)?;
        for i in 1..=self.nodes {
            let (ns, host, inner) = (
                self.netns(i),
                self.host_link(i),
                format!("{}c{i}", self.prefix),
            );
            ip(&["netns", "add", &ns])?;
            ip(&["link", "add", &host, "type", "veth", "peer", "name", &inner])?;
            ip(&["link", "set", &inner, "netns", &ns])?;
            ip(&["link", "set", &host, "master", &bridge])?;
            ip(&["link", "set", &host, "up"])?;
            ip(&[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{}/24", self.addr(i)),
                "dev",
                &inner,
            ])?;
            ip(&["-n", &ns, "link", "set", &inner, "up"])?;
            ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        }
        Ok(())
    }

    pub fn netns(&self, node: usize) -> String {
        format!("{}n{node}", self.prefix)
    }

    fn host_link(&self, node: usize) -> String {
        format!("{}h{node}", self.prefix)
    }

    /// The node's address inside its namespace.
    pub fn addr(&self, node: usize) -> String {
        format!("{}.{node}", self.subnet)
    }

    /// The harness's address on the bridge, as the nodes reach it.
    pub fn harness_addr(&self) -> String {
        format!("{}.254", self.subnet)
    }

    /// Cuts the node off from every other node and from the harness.
    pub fn isolate(&self, node: usize) -> Result<(), String> {
        ip(&["link", "set", &self.host_link(node), "down"])
    }

    pub fn heal(&self, node: usize) -> Result<(), String> {
        ip(&["link", "set", &self.host_link(node), "up"])
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        for i in 1..=self.nodes {
            let _ = ip(&["link", "del", &self.host_link(i)]);
            let _ = ip(&["netns", "del", &self.netns(i)]);
        }
        let bridge = format!("{}br", self.prefix);
        let _ = accept_forwarding(&bridge, false);
        let _ = ip(&["link", "del", &bridge]);
    }
}

/// Deletes namespaces and links of earlier runs whose harness is gone.
fn remove_leftovers() {
    let gone = |name: &str| -> bool {
        let digits: String = name
            .trim_start_matches("rfc")
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        !digits.is_empty() && !std::path::Path::new(&format!("/proc/{digits}")).exists()
    };
    if let Ok(out) = Command::new("ip").args(["netns", "list"]).output() {
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let name = line.split_whitespace().next().unwrap_or("");
            if name.starts_with("rfc") && gone(name) {
                let _ = ip(&["netns", "del", name]);
            }
        }
    }
    if let Ok(out) = Command::new("ip").args(["-o", "link", "show"]).output() {
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let name = line.split(':').nth(1).unwrap_or("").trim();
            let name = name.split('@').next().unwrap_or("");
            if name.starts_with("rfc") && gone(name) {
                if name.ends_with("br") {
                    let _ = accept_forwarding(name, false);
                }
                let _ = ip(&["link", "del", name]);
            }
        }
    }
}
