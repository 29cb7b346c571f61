//! Statistics: executions counted as they start and end, the same numbers
//! on every node (a node added later included), over gRPC, the console's
//! JSON and its pages in Chromium.

use std::time::Duration;

use serde_json::Value;

use crate::harness::{http, TestCluster};

const WAIT: Duration = Duration::from_secs(30);
const BRANCHY: &str = r#"{"StartAt":"C","States":{
  "C":{"Type":"Choice","Choices":[{"Variable":"$.fail","BooleanEquals":true,"Next":"F"}],"Default":"S"},
  "F":{"Type":"Fail","Error":"Order.Bad"},
  "S":{"Type":"Succeed"}}}"#;
const WAITS: &str = r#"{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"activity:stats-never","End":true}}}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_node_counts_the_same_executions() {
    // One state machine labelled in metrics; the rest are `other`.
    let mut cluster = TestCluster::start(3, |c| c.metrics.state_machine_labels = 1).await;
    cluster.wait_leader(WAIT).await;
    cluster
        .wait_apply_version(raftflow_store::version::APPLY_VERSION_MAX, WAIT)
        .await;
    let client = cluster.client();
    client
        .create_state_machine("orders", BRANCHY, "")
        .await
        .unwrap();
    client
        .create_state_machine("waits", WAITS, "")
        .await
        .unwrap();
    for i in 0..10 {
        let input = format!(r#"{{"fail": {}}}"#, i >= 7);
        client
            .start_execution("orders", Some(&format!("o-{i}")), &input)
            .await
            .unwrap();
    }
    let waiting = client
        .start_execution("waits", Some("w"), "{}")
        .await
        .unwrap()
        .execution_id;
    client
        .stop_execution(&waiting, "States.Aborted", "enough")
        .await
        .unwrap();

    let stats = client.get_statistics("orders", "hour", 0).await.unwrap();
    let total = stats.summary.unwrap();
    assert_eq!((total.started, total.succeeded, total.failed), (10, 7, 3));
    assert_eq!(total.success_rate, Some(70.0));
    assert_eq!(stats.buckets.len(), 60, "one bucket a minute, zeros too");
    // Each state's visits: the Choice every time, the Fail state failed
    // three; all took no time (one apply), so they come in name order.
    let states: Vec<(&str, u64, u64)> = stats
        .states
        .iter()
        .map(|s| (s.name.as_str(), s.succeeded + s.caught + s.failed, s.failed))
        .collect();
    assert_eq!(states, [("C", 10, 0), ("F", 3, 3), ("S", 7, 0)]);
    let waits = client.get_statistics("waits", "hour", 0).await.unwrap();
    assert!(
        waits.states.is_empty(),
        "a visit cut short by a stop is not counted: {waits:?}"
    );
    let refused = client
        .get_statistics("orders", "fortnight", 0)
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("fortnight"), "{refused}");
    let typo = client.get_statistics("ordres", "day", 0).await.unwrap_err();
    assert!(
        typo.to_string().contains("`ordres` does not exist"),
        "{typo}"
    );

    let id = cluster.add_node().await;
    let node = cluster.node(id);
    client
        .add_learner(id, &node.raft_addr.to_string(), &node.api_addr.to_string())
        .await
        .expect("learner added");
    cluster.wait_same_digest(WAIT).await;
    let mut seen = Vec::new();
    for node in cluster.running() {
        let addr = node.http_addr.expect("HTTP is served");
        let (status, body) = http(
            addr,
            "GET",
            "/api/statistics?state_machine=orders&window=day",
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        seen.push(v["summary"].clone());
    }
    for node in cluster.running() {
        let (_, metrics) = http(node.http_addr.unwrap(), "GET", "/metrics").await;
        for line in [
            "raftflow_state_machine_executions_started_total{state_machine=\"orders\"} 10",
            "raftflow_state_machine_executions_ended_total{state_machine=\"orders\",status=\"FAILED\"} 3",
            "raftflow_state_machine_executions_ended_total{state_machine=\"other\",status=\"ABORTED\"} 1",
            "raftflow_state_machine_execution_duration_seconds_count{state_machine=\"orders\"} 10",
        ] {
            assert!(metrics.lines().any(|l| l == line), "{line} on node {}", node.context.id);
        }
        assert!(
            !metrics.contains("state_machine=\"waits\""),
            "capped at one label"
        );
    }
    assert_eq!(seen.len(), 4);
    assert!(seen.iter().all(|s| *s == seen[0]), "{seen:?}");
    assert_eq!(seen[0]["failed"], 3);

    let addr = cluster.running().next().unwrap().http_addr.unwrap();
    let (status, body) = http(addr, "GET", "/api/statistics?state_machine=ordres").await;
    assert!(
        status == 404 && body.contains("`ordres`"),
        "{status} {body}"
    );
    let (_, busiest) = http(addr, "GET", "/api/statistics/busiest").await;
    let busiest: Value = serde_json::from_str(&busiest).unwrap();
    assert_eq!(busiest[0]["state_machine"], "orders", "{busiest}");
    assert_eq!(busiest[1]["summary"]["aborted"], 1, "{busiest}");
    browser_shows_the_numbers(addr);
}

fn browser_shows_the_numbers(addr: std::net::SocketAddr) {
    let admin = crate::harness::admin_secret();
    let page = format!("login={admin}&then=/stats/orders?window=hour");
    let Some(dom) = crate::console::browser_dom(addr, &page) else {
        return;
    };
    let cards = dom
        .split("id=\"stats-summary\"")
        .nth(1)
        .unwrap_or_else(|| panic!("{dom}"));
    for (label, value) in [
        ("started", "10"),
        ("succeeded", "7"),
        ("failed", "3"),
        ("success rate", "70.0%"),
    ] {
        let card =
            format!("<div class=\"stat-value\">{value}</div><div class=\"muted\">{label}</div>");
        assert!(cards.contains(&card), "{label} {value} in:\n{cards}");
    }
    assert!(
        dom.contains("class=\"bar succeeded\""),
        "the chart has bars"
    );
    let states = dom
        .split("id=\"state-stats\"")
        .nth(1)
        .unwrap_or_else(|| panic!("no state table in:\n{dom}"));
    assert!(
        states.contains("<td>F</td><td>3</td>"),
        "the Fail state's three visits in:\n{states}"
    );
    let Some(overview) = crate::console::browser_dom(addr, &format!("login={admin}&then=/")) else {
        return;
    };
    let busiest = overview
        .split("id=\"busiest\"")
        .nth(1)
        .unwrap_or_else(|| panic!("{overview}"));
    assert!(
        busiest.contains("orders") && busiest.contains("70.0%"),
        "{busiest}"
    );
    assert!(busiest.contains("class=\"sparkline\""));
}
