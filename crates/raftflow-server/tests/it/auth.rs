//! API tokens on a real cluster: bootstrap, revocation on every node,
//! expiry, scopes, and the HTTP port.

use std::time::{Duration, Instant};

use raftflow_client::proto::Role;
use raftflow_client::{Client, ClientError};
use tonic::Code;

use crate::harness::{client_tls, http_as, TestCluster};

const WAIT: Duration = Duration::from_secs(30);

fn code(result: Result<impl Sized, ClientError>) -> Code {
    match result {
        Ok(_) => Code::Ok,
        Err(ClientError::Status(status)) => status.code(),
        Err(other) => panic!("not a status: {other}"),
    }
}

fn message(result: Result<impl Sized, ClientError>) -> String {
    match result {
        Err(e) => e.to_string(),
        Ok(_) => panic!("the call succeeded"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bootstrap_works_once_and_nothing_else_works_before_it() {
    // No [auth] bootstrap_token_file: the operator bootstraps by hand.
    let cluster = TestCluster::start(3, |c| c.auth = Default::default()).await;
    cluster.wait_leader(WAIT).await;
    let anonymous = Client::with_tls(&cluster.endpoints(), Some(client_tls())).unwrap();
    let refused = message(anonymous.list_state_machines().await);
    assert!(
        refused.contains("no tokens yet") && refused.contains("acl bootstrap"),
        "{refused}"
    );

    let first = anonymous
        .acl_bootstrap()
        .await
        .expect("the first bootstrap");
    assert!(
        first.secret.starts_with("rfs_") && first.secret.len() == 68,
        "{}",
        first.secret
    );
    let admin = cluster.client_with_token(&first.secret);
    let me = admin.who_am_i().await.unwrap();
    assert_eq!(
        (me.name.as_str(), me.role),
        ("bootstrap", Role::Admin as i32)
    );
    assert_eq!(me.accessor, first.token.unwrap().accessor);
    assert!(admin.list_state_machines().await.is_ok());

    assert_eq!(code(anonymous.acl_bootstrap().await), Code::AlreadyExists);
    assert_eq!(code(admin.acl_bootstrap().await), Code::AlreadyExists);
    // The harness's token was never configured here: it names nobody.
    let stranger = cluster.client();
    assert_eq!(
        code(stranger.list_state_machines().await),
        Code::Unauthenticated
    );
}

/// A token works on every node the moment its creation returns: a follower
/// that has not applied it yet sends the call on to the leader, which
/// answered the creation only after applying it. (The bootstrap test above
/// once failed in CI on exactly this: its first call reached a follower.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_new_token_works_at_once_on_every_node() {
    let mut cluster = TestCluster::start(3, |_| {}).await;
    let leader = cluster.wait_leader(WAIT).await;
    // Raised with every member up (it waits for them all).
    cluster
        .wait_apply_version(raftflow_store::version::APPLY_VERSION_MAX, WAIT)
        .await;
    let admin = cluster.client();
    let lagging = (1..=3).find(|&id| id != leader).unwrap();
    let endpoint = cluster.endpoints()[lagging as usize - 1].clone();
    // A follower that was down while the token was made: back up, it
    // serves before the leader has sent it the entry.
    cluster.stop(lagging).await;
    let made = admin
        .create_token("fresh", Role::Reader, &[], 0)
        .await
        .unwrap();
    cluster.restart(lagging).await;
    let reader = cluster
        .client_at(std::slice::from_ref(&endpoint))
        .with_token(&made.secret)
        .unwrap();
    let me = reader.who_am_i().await;
    let me = me.unwrap_or_else(|e| panic!("the new token at {endpoint}: {e}"));
    assert_eq!(me.name, "fresh");
    // A token nobody made is still refused, by the leader, and named so.
    let stranger = cluster
        .client_at(std::slice::from_ref(&endpoint))
        .with_token("rfs_not-a-token")
        .unwrap();
    let refused = message(stranger.who_am_i().await);
    assert!(refused.contains("not known to this node"), "{refused}");
}

/// Waits until every running node applied the token table `done` accepts.
async fn wait_every_node(
    cluster: &TestCluster,
    done: impl Fn(&raftflow_store::acl::AclTable) -> bool,
) {
    for node in cluster.running() {
        let mut applied = node.context.reader.watch_applied();
        let deadline = tokio::time::Instant::now() + WAIT;
        while !done(&node.context.reader.acl()) {
            tokio::time::timeout_at(deadline, applied.changed())
                .await
                .expect("every node applies the change")
                .unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_revoked_worker_token_is_refused_on_every_node() {
    let cluster = TestCluster::start(3, |_| {}).await;
    cluster.wait_leader(WAIT).await;
    let admin = cluster.client();
    let made = admin
        .create_token("w1", Role::Worker, &[], 0)
        .await
        .unwrap();
    let accessor = made.token.unwrap().accessor;
    let activities = vec!["nothing.here".to_string()];
    let polling = {
        let worker = cluster.client_with_token(&made.secret);
        let activities = activities.clone();
        tokio::spawn(async move { worker.poll_task(&activities, "w", 20_000).await })
    };
    admin.revoke_token("w1").await.unwrap();
    wait_every_node(&cluster, |acl| acl.get(&accessor).is_none()).await;
    for endpoint in cluster.endpoints() {
        let worker = cluster
            .client_at(std::slice::from_ref(&endpoint))
            .with_token(&made.secret)
            .unwrap();
        let refused = worker.poll_task(&activities, "w", 1).await;
        assert!(
            matches!(&refused, Err(e) if e.is_auth_refusal()),
            "{endpoint}: {:?}",
            refused.map(|_| ())
        );
    }
    polling.abort();
    let listed = admin.list_tokens().await.unwrap();
    assert!(listed.iter().all(|t| t.accessor != accessor));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_expired_token_is_refused_and_a_rotated_secret_replaces_the_old() {
    let cluster = TestCluster::start(1, |_| {}).await;
    cluster.wait_leader(WAIT).await;
    let admin = cluster.client();
    let short = admin
        .create_token("short", Role::Reader, &[], 1)
        .await
        .unwrap();
    let reader = cluster.client_with_token(&short.secret);
    assert!(reader.who_am_i().await.is_ok(), "valid before its expiry");
    let deadline = Instant::now() + Duration::from_secs(10);
    let refused = loop {
        match reader.who_am_i().await {
            Ok(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Ok(_) => panic!("the token outlived its expiry by 9 s"),
            Err(e) => break e.to_string(),
        }
    };
    assert!(refused.contains("expired"), "{refused}");

    let long = admin
        .create_token("long", Role::Reader, &[], 0)
        .await
        .unwrap();
    let rotated = admin.rotate_token("long").await.unwrap();
    assert_ne!(rotated.secret, long.secret);
    let old = cluster.client_with_token(&long.secret);
    assert_eq!(code(old.who_am_i().await), Code::Unauthenticated);
    let new = cluster.client_with_token(&rotated.secret);
    assert_eq!(new.who_am_i().await.unwrap().name, "long");
    let last_admin = message(admin.revoke_token("bootstrap").await);
    assert!(last_admin.contains("last admin token"), "{last_admin}");
}

fn flow(activity: &str) -> String {
    format!(
        r#"{{"StartAt": "T", "States": {{"T": {{"Type": "Task", "Resource": "activity:{activity}", "End": true}}}}}}"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn scopes_narrow_operators_to_state_machines_and_workers_to_activities() {
    let cluster = TestCluster::start(1, |_| {}).await;
    let admin = cluster
        .client_with("payments-flow", &flow("payments.charge"))
        .await;
    admin
        .create_state_machine("shipping-flow", &flow("shipping.label"), "")
        .await
        .unwrap();
    let scopes = |s: &str| vec![s.to_string()];
    let op = admin
        .create_token("op", Role::Operator, &scopes("payments-*"), 0)
        .await
        .unwrap();
    let wk = admin
        .create_token("wk", Role::Worker, &scopes("payments.*"), 0)
        .await
        .unwrap();
    let (operator, worker) = (
        cluster.client_with_token(&op.secret),
        cluster.client_with_token(&wk.secret),
    );

    let denied = message(operator.start_execution("shipping-flow", None, "{}").await);
    assert!(
        denied.contains("shipping-flow") && denied.contains("payments-*"),
        "{denied}"
    );
    operator
        .start_execution("payments-flow", Some("p1"), "{}")
        .await
        .unwrap();
    let seen: Vec<String> = operator
        .list_state_machines()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(seen, ["payments-flow"]);

    let shipping = vec!["shipping.label".to_string()];
    assert_eq!(
        code(worker.poll_task(&shipping, "w", 1).await),
        Code::PermissionDenied
    );
    // A valid task token of another activity does not help.
    admin
        .start_execution("shipping-flow", Some("s1"), "{}")
        .await
        .unwrap();
    let task = admin
        .poll_task(&shipping, "admin", 10_000)
        .await
        .unwrap()
        .expect("a shipping task");
    let before = admin
        .history("shipping-flow:s1", false)
        .await
        .unwrap()
        .len();
    assert_eq!(
        code(worker.complete_task(&task.token, "{}").await),
        Code::PermissionDenied
    );
    assert_eq!(
        code(operator.complete_task(&task.token, "{}").await),
        Code::PermissionDenied,
        "not a callback task"
    );
    assert_eq!(
        admin
            .history("shipping-flow:s1", false)
            .await
            .unwrap()
            .len(),
        before,
        "the history is unchanged"
    );

    let payments = vec!["payments.charge".to_string()];
    let own = worker
        .poll_task(&payments, "w", 10_000)
        .await
        .unwrap()
        .expect("its own task");
    worker.complete_task(&own.token, "{}").await.unwrap();
    let done = admin.wait_for_end("payments-flow:p1").await.unwrap();
    assert_eq!(done.status, "SUCCEEDED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn metrics_need_a_reader_token_and_count_refusals() {
    let cluster = TestCluster::start(1, |_| {}).await;
    cluster.wait_leader(WAIT).await;
    let admin = cluster.client();
    let reader = admin
        .create_token("prom", Role::Reader, &[], 0)
        .await
        .unwrap();
    let worker = admin
        .create_token("wk", Role::Worker, &[], 0)
        .await
        .unwrap();
    let addr = cluster.node(1).http_addr.unwrap();
    assert_eq!(http_as(addr, "GET", "/metrics", None).await.0, 401);
    assert_eq!(
        http_as(addr, "GET", "/metrics", Some(&worker.secret))
            .await
            .0,
        403
    );
    assert_eq!(
        http_as(addr, "GET", "/healthz", None).await.0,
        200,
        "health stays open"
    );
    let (status, body) = http_as(addr, "GET", "/metrics", Some(&reader.secret)).await;
    assert_eq!(status, 200);
    assert!(
        body.contains("raftflow_auth_denied_total{reason=\"missing\"} 1"),
        "{body}"
    );
    assert!(
        body.contains("raftflow_auth_denied_total{reason=\"role\"} 1"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_token_past_its_rate_is_told_when_to_retry_and_others_are_not_held_back() {
    let cluster = TestCluster::start(1, |c| c.auth.rate_limits.operator = 2).await;
    cluster.wait_leader(WAIT).await;
    let admin = cluster.client();
    let op = admin
        .create_token("busy", Role::Operator, &[], 0)
        .await
        .unwrap();
    let operator = cluster.client_with_token(&op.secret);
    // Twenty calls cannot take the 9 s that two a second would need.
    let mut refused = Vec::new();
    for _ in 0..20 {
        match operator.list_state_machines().await {
            Ok(_) => {}
            Err(ClientError::Status(status)) => refused.push(status),
            Err(other) => panic!("{other}"),
        }
        assert!(
            admin.list_state_machines().await.is_ok(),
            "admins have no limit by default"
        );
    }
    assert!(!refused.is_empty(), "none of 20 refused");
    let status = &refused[0];
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert!(
        status.message().contains("2 requests per second"),
        "{}",
        status.message()
    );
    let wait_ms: u64 = status
        .metadata()
        .get("retry-after-ms")
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=1000).contains(&wait_ms), "{wait_ms}");
}
