//! Address checks of the node configuration: what a node binds (an IP and
//! a port) and what it is known by (a host name allowed).

/// host:port where host is an IP address or a DNS name (peers, advertised).
pub(crate) fn check_host_port(
    field: &'static str,
    addr: &str,
) -> Result<(), (&'static str, String)> {
    if addr.parse::<std::net::SocketAddr>().is_ok() {
        return Ok(());
    }
    let bad = || {
        (
            field,
            format!("`{addr}` is not host:port (e.g. 10.0.0.5:7101 or node1.raftflow:7101)"),
        )
    };
    let (host, port) = addr.rsplit_once(':').ok_or_else(bad)?;
    port.parse::<u16>().map_err(|_| bad())?;
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if host.is_empty() || host.len() > 253 || !host.split('.').all(label_ok) {
        return Err(bad());
    }
    Ok(())
}

pub(crate) fn check_addr(field: &'static str, addr: &str) -> Result<(), (&'static str, String)> {
    addr.parse::<std::net::SocketAddr>()
        .map(|_| ())
        .map_err(|_| {
            (
                field,
                format!("`{addr}` is not a host:port socket address (e.g. 127.0.0.1:7101)"),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::check_host_port;

    #[test]
    fn host_names_and_addresses_pass_and_the_rest_is_named() {
        for good in [
            "10.0.0.5:7101",
            "[::1]:7101",
            "node1:7101",
            "raftflow-0.raftflow-peers.default.svc:7201",
        ] {
            assert!(check_host_port("f", good).is_ok(), "{good}");
        }
        for bad in [
            "node1",
            "node1:",
            "node 1:7101",
            ":7101",
            "-a:1",
            "a..b:1",
            "a:99999",
        ] {
            let (field, message) = check_host_port("f", bad).unwrap_err();
            assert_eq!(field, "f");
            assert!(message.contains(bad), "{message}");
        }
    }
}
