//! Connections on a real cluster: HTTP Tasks send the credentials a
//! connection holds (bearer, basic, API key; named by an ARN or a plain
//! name); no call shows a secret back; a missing connection fails the
//! state naming it; a key rotation (new key with the old one kept, re-key,
//! old key dropped) keeps every call working.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use raftflow_client::proto::save_connection_request::Credentials;
use raftflow_client::proto::{ApiKeyAuth, BasicAuth, BearerAuth, SaveConnectionRequest};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::harness::TestCluster;

const WAIT: Duration = Duration::from_secs(60);

fn task(name: &str, connection: &str, next: &str) -> serde_json::Value {
    let mut state = json!({"Type": "Task", "Resource": "arn:aws:states:::http:invoke",
        "Parameters": {"ApiEndpoint.$": format!("$.{name}"), "Method": "GET",
            "Headers": {"Authorization": "from the definition"},
            "Authentication": {"ConnectionArn": connection}},
        "ResultPath": null});
    match next {
        "" => state["End"] = true.into(),
        next => state["Next"] = next.into(),
    }
    state
}

fn definition() -> String {
    let arn = "arn:aws:events:us-east-1:123456789012:connection/pay-bearer/0b1c-77";
    json!({"StartAt": "bearer", "States": {
        "bearer": task("bearer", arn, "basic"),
        "basic": task("basic", "pay-basic", "key"),
        "key": task("key", "pay-key", ""),
    }})
    .to_string()
}

/// Each request's target with its Authorization and X-Api-Key headers.
type Seen = Arc<Mutex<Vec<(String, String, String)>>>;

async fn serve() -> (u16, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Seen::default();
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let log = log.clone();
            tokio::spawn(async move {
                let mut text = String::new();
                let mut buf = [0u8; 4096];
                while !text.contains("\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => text.push_str(&String::from_utf8_lossy(&buf[..n])),
                    }
                }
                let header = |name: &str| {
                    let values: Vec<String> = text
                        .lines()
                        .filter_map(|l| {
                            let (n, v) = l.split_once(':')?;
                            n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
                        })
                        .collect();
                    values.join(" | ")
                };
                let target = text.split_whitespace().nth(1).unwrap_or("").to_string();
                let entry = (target, header("authorization"), header("x-api-key"));
                log.lock().unwrap().push(entry);
                let reply = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}";
                let _ = socket.write_all(reply.as_bytes()).await;
            });
        }
    });
    (port, seen)
}

fn save(name: &str, credentials: Credentials) -> SaveConnectionRequest {
    SaveConnectionRequest {
        name: name.into(),
        description: String::new(),
        credentials: Some(credentials),
    }
}

/// Runs one execution and checks every credential arrived, alone.
async fn run_and_check(client: &raftflow_client::Client, name: &str, port: u16, seen: &Seen) {
    seen.lock().unwrap().clear();
    let base = format!("http://127.0.0.1:{port}");
    let input = json!({"bearer": format!("{base}/bearer"), "basic": format!("{base}/basic"),
        "key": format!("{base}/key")});
    let started = client
        .start_execution("pay", Some(name), &input.to_string())
        .await
        .unwrap();
    let ended = client.wait_for_end(&started.execution_id).await.unwrap();
    assert_eq!(ended.status, "SUCCEEDED", "{ended:?}");
    let seen = seen.lock().unwrap().clone();
    let expected = [
        ("/bearer", "Bearer tok-1", ""),
        ("/basic", "Basic b3BzOmh1bnRlcjI=", ""),
        ("/key", "from the definition", "k-9"),
    ];
    for (target, authorization, key) in expected {
        let got = seen.iter().find(|s| s.0 == target).expect("called");
        assert_eq!(
            (got.1.as_str(), got.2.as_str()),
            (authorization, key),
            "{target}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn connections_send_credentials_never_show_them_and_survive_a_key_rotation() {
    let mut cluster = TestCluster::calling_loopback().await;
    let client = cluster.client_with("pay", &definition()).await;
    let bearer = Credentials::Bearer(BearerAuth {
        token: "tok-1".into(),
    });
    let basic = Credentials::Basic(BasicAuth {
        username: "ops".into(),
        password: "hunter2".into(),
    });
    let key = Credentials::ApiKey(ApiKeyAuth {
        header: "X-Api-Key".into(),
        value: "k-9".into(),
    });
    for (name, credentials) in [
        ("pay-bearer", &bearer),
        ("pay-basic", &basic),
        ("pay-key", &key),
    ] {
        let reply = client
            .save_connection(save(name, credentials.clone()), true)
            .await;
        assert!(reply.unwrap().created, "{name}");
    }
    let again = client
        .save_connection(save("pay-basic", basic.clone()), true)
        .await;
    assert!(
        !again.unwrap().created,
        "the same secret seals to the same bytes"
    );
    let listed = client.list_connections("", 10).await.unwrap().connections;
    let first_key = listed[0].key_id.clone();
    assert_eq!(listed.len(), 3);
    let shown = format!("{listed:?}");
    for secret in ["tok-1", "hunter2", "k-9", "ops"] {
        assert!(!shown.contains(secret), "{secret} shown back: {shown}");
    }
    let (port, seen) = serve().await;
    run_and_check(&client, "before", port, &seen).await;

    client.delete_connection("pay-key").await.unwrap();
    let input = json!({"bearer": format!("http://127.0.0.1:{port}/bearer"),
        "basic": format!("http://127.0.0.1:{port}/basic"), "key": "http://127.0.0.1:1/"});
    let started = client
        .start_execution("pay", Some("missing"), &input.to_string())
        .await
        .unwrap();
    let ended = client.wait_for_end(&started.execution_id).await.unwrap();
    assert_eq!(
        (ended.status.as_str(), ended.error.as_str()),
        ("FAILED", "States.Runtime")
    );
    assert!(
        ended.cause.contains("connection `pay-key` does not exist"),
        "{}",
        ended.cause
    );
    client
        .save_connection(save("pay-key", key), true)
        .await
        .unwrap();

    // A subscription's signing secret is sealed with the same key.
    let hook = raftflow_client::proto::SaveSubscriptionRequest {
        name: "rotated".into(),
        state_machine: "nothing".into(),
        on: vec![raftflow_client::proto::ExecutionChange::Failed as i32],
        url: "https://hooks.example.com/rotated".into(),
        signing_secret: "rotated-secret-0123456789".into(),
        ..Default::default()
    };
    client.save_subscription(hook, true).await.unwrap();

    rotate(&mut cluster).await;
    let client = cluster.client();
    run_and_check(&client, "old-key-kept", port, &seen).await;
    let rekeyed = client.rekey_connections().await.unwrap();
    let expected = (4, 0, Vec::<String>::new());
    let counts = (rekeyed.rekeyed, rekeyed.current, rekeyed.failed.clone());
    assert_eq!(counts, expected, "three connections and a subscription");
    assert_ne!(rekeyed.key_id, first_key);
    drop_previous_keys(&mut cluster).await;
    let client = cluster.client();
    let info = client.describe_connection("pay-bearer").await.unwrap();
    assert_eq!(info.key_id, rekeyed.key_id);
    let hook = client.describe_subscription("rotated").await.unwrap();
    assert_eq!(hook.key_id, rekeyed.key_id);
    run_and_check(&client, "after", port, &seen).await;
    cluster.wait_same_digest(WAIT).await;
    cluster.shutdown().await;
}

/// Every node, one at a time, gets a new current key and keeps the old.
async fn rotate(cluster: &mut TestCluster) {
    let file = cluster._dir.path().join("connections-2.key");
    let key = raftflow_server::connections::keys::new_key_text();
    raftflow_server::auth::secret::write_file(&file, &key).unwrap();
    for id in 1..=3u64 {
        let config = &mut cluster.configs[id as usize - 1].connections;
        let old = config.key_file.replace(file.clone()).unwrap();
        config.previous_key_files = vec![old];
        cluster.stop(id).await;
        cluster.restart(id).await;
        cluster.wait_leader(WAIT).await;
    }
}

async fn drop_previous_keys(cluster: &mut TestCluster) {
    for id in 1..=3u64 {
        cluster.configs[id as usize - 1]
            .connections
            .previous_key_files
            .clear();
        cluster.stop(id).await;
        cluster.restart(id).await;
        cluster.wait_leader(WAIT).await;
    }
}
