//! The destination rules: schemes, hosts, every address class refused by
//! default, the ranges allowed back, the node's own ports.

use super::*;

fn rules(config: OutboundConfig) -> Destinations {
    Destinations::new(&config, vec!["0.0.0.0:7001".parse().unwrap()]).unwrap()
}

fn url(text: &str) -> http::Uri {
    text.parse().unwrap()
}

fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

#[test]
fn schemes_and_hosts() {
    let open = rules(OutboundConfig::default());
    assert_eq!(
        open.check_url(&url("https://api.example.com/x?y=1")),
        Ok((true, "api.example.com".into(), 443))
    );
    assert!(matches!(
        open.check_url(&url("http://api.example.com/")),
        Err(Denied::PlainHttp(_))
    ));
    assert!(matches!(
        open.check_url(&url("ftp://api.example.com/")),
        Err(Denied::NotHttp(_))
    ));
    let plain = rules(OutboundConfig {
        allow_plain_http: true,
        ..Default::default()
    });
    assert_eq!(
        plain.check_url(&url("http://API.example.com:8080/")),
        Ok((false, "api.example.com".into(), 8080))
    );
    let listed = rules(OutboundConfig {
        allow_hosts: vec!["api.example.com".into(), "*.pay.example".into()],
        ..Default::default()
    });
    assert!(listed.check_url(&url("https://api.example.com/")).is_ok());
    assert!(listed.check_url(&url("https://eu.pay.example/")).is_ok());
    let refused = listed.check_url(&url("https://pay.example/")).unwrap_err();
    assert_eq!(
        refused.to_string(),
        "host pay.example is not in outbound.allow_hosts"
    );
    assert!(listed.check_url(&url("https://evilpay.example/")).is_err());
}

#[test]
fn private_loopback_and_link_local_addresses_are_refused_by_default() {
    let open = rules(OutboundConfig::default());
    for (text, kind) in [
        ("127.0.0.1:80", "loopback"),
        ("10.1.2.3:443", "private"),
        ("192.168.0.9:443", "private"),
        ("172.16.0.1:443", "private"),
        ("100.64.0.1:443", "private"),
        ("169.254.169.254:80", "link-local"),
        ("0.0.0.0:80", "non-routable"),
        ("[::1]:80", "loopback"),
        ("[fd00::1]:80", "private"),
        ("[fe80::1]:80", "link-local"),
        ("[::ffff:10.0.0.1]:80", "private"),
    ] {
        match open.check_addr("h", addr(text)) {
            Err(Denied::Address { kind: found, .. }) => assert_eq!(found, kind, "{text}"),
            other => panic!("{text}: {other:?}"),
        }
    }
    assert!(open.check_addr("h", addr("93.184.216.34:443")).is_ok());
    assert!(open
        .check_addr("h", addr("[2606:2800:220:1::1]:443"))
        .is_ok());
    let message = open
        .check_addr("metadata", addr("169.254.169.254:80"))
        .unwrap_err();
    assert_eq!(
        message.to_string(),
        "metadata resolves to 169.254.169.254, a link-local address; allow it with outbound.allow_cidrs"
    );
}

#[test]
fn allowed_ranges_come_back_but_not_the_nodes_own_ports() {
    let inside = rules(OutboundConfig {
        allow_cidrs: vec!["10.0.0.0/8".into(), "127.0.0.1/32".into()],
        ..Default::default()
    });
    assert!(inside.check_addr("h", addr("10.1.2.3:443")).is_ok());
    assert!(inside.check_addr("h", addr("192.168.0.9:443")).is_err());
    assert!(inside.check_addr("h", addr("127.0.0.1:7002")).is_ok());
    // The node listens on 0.0.0.0:7001: its loopback port stays refused
    // inside an allowed range; another host's port 7001 is not its own.
    assert_eq!(
        inside.check_addr("h", addr("127.0.0.1:7001")),
        Err(Denied::OwnPort(addr("127.0.0.1:7001")))
    );
    assert!(inside.check_addr("h", addr("93.184.216.34:7001")).is_ok());
    // Connected to its own address on that port (a LAN address of its own).
    assert!(inside
        .check_connected(addr("10.0.0.5:50000"), addr("10.0.0.5:7001"))
        .is_err());
    assert!(inside
        .check_connected(addr("10.0.0.5:50000"), addr("10.0.0.6:7001"))
        .is_ok());
    let bad = OutboundConfig {
        allow_cidrs: vec!["10.0.0.0/33".into()],
        ..Default::default()
    };
    let error = Destinations::new(&bad, vec![]).unwrap_err();
    assert!(error.contains("`10.0.0.0/33`"), "{error}");
    let wide = OutboundConfig {
        max_calls_per_host: 65,
        ..Default::default()
    };
    let error = Destinations::new(&wide, vec![]).unwrap_err();
    assert!(
        error.contains("max_calls_per_host is 1 to max_calls (64), not 65"),
        "{error}"
    );
}
