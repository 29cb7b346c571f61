//! Signing in to the console: sessions, roles and the CSRF token, over
//! HTTP and in headless Chromium.

use std::net::SocketAddr;

use raftflow_client::proto::Role;

use crate::console::browser_dom;
use crate::harness::{http_as, http_request, TestCluster};

const WAITING: &str = r#"{"StartAt": "Wait", "States": {"Wait": {"Type": "Task", "Resource": "activity:nobody-polls", "End": true}}}"#;

/// One request with extra headers and a body; the status, the
/// `Set-Cookie` value (if any) and the body.
async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, Option<String>, String) {
    let (status, head, body) = http_request(addr, method, path, headers, body).await;
    let cookie = head
        .lines()
        .find_map(|l| {
            l.strip_prefix("set-cookie: ")
                .or_else(|| l.strip_prefix("Set-Cookie: "))
        })
        .map(str::to_string);
    (status, cookie, body)
}

/// Signs in with `token`: the cookie pair to send back and the CSRF token.
async fn sign_in(addr: SocketAddr, token: &str) -> (String, String) {
    let (status, cookie, body) = request(
        addr,
        "POST",
        "/api/session",
        &[],
        &format!(r#"{{"token": "{token}"}}"#),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let cookie = cookie.expect("a session cookie");
    for attribute in ["HttpOnly", "SameSite=Strict", "Secure", "Path=/"] {
        assert!(cookie.contains(attribute), "{attribute} in {cookie}");
    }
    let pair = cookie.split(';').next().unwrap().to_string();
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    (pair, json["csrf"].as_str().unwrap().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_console_needs_a_session_and_its_changes_the_csrf_token() {
    let cluster = TestCluster::start(1, |_| {}).await;
    let admin = cluster.client_with("held", WAITING).await;
    let id = admin
        .start_execution("held", Some("one"), "{}")
        .await
        .unwrap()
        .execution_id;
    let reader = admin
        .create_token("viewer", Role::Reader, &[], 0)
        .await
        .unwrap()
        .secret;
    let addr = cluster.node(1).http_addr.unwrap();

    let (status, body) = http_as(addr, "GET", "/api/state-machines", None).await;
    assert!(
        status == 401 && body.contains("\"login\":true"),
        "{status} {body}"
    );
    let (status, _, body) = request(
        addr,
        "POST",
        "/api/session",
        &[],
        r#"{"token": "rfs_wrong"}"#,
    )
    .await;
    assert_eq!(status, 401, "{body}");

    let (reader_cookie, reader_csrf) = sign_in(addr, &reader).await;
    let with = |cookie: &str| vec![("Cookie", cookie.to_string())];
    let headers = with(&reader_cookie);
    let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, _, body) = request(addr, "GET", "/api/state-machines", &headers, "").await;
    assert!(status == 200 && body.contains("held"), "{status} {body}");
    let stop_path = format!("/api/executions/{id}/stop");
    let mut reader_stop = headers.clone();
    reader_stop.push(("x-csrf-token", &reader_csrf));
    let (status, _, body) = request(addr, "POST", &stop_path, &reader_stop, "").await;
    assert!(
        status == 403 && body.contains("executions:stop"),
        "a reader may not stop: {status} {body}"
    );

    let (admin_cookie, admin_csrf) = sign_in(addr, crate::harness::admin_secret()).await;
    let cookie_only = [("Cookie", admin_cookie.as_str())];
    let (status, _, body) = request(addr, "POST", &stop_path, &cookie_only, "").await;
    assert!(
        status == 403 && body.contains("CSRF"),
        "no CSRF token: {status} {body}"
    );
    let wrong = [
        ("Cookie", admin_cookie.as_str()),
        ("x-csrf-token", reader_csrf.as_str()),
    ];
    assert_eq!(
        request(addr, "POST", &stop_path, &wrong, "").await.0,
        403,
        "another session's CSRF token"
    );
    assert_eq!(
        admin.describe_execution(&id).await.unwrap().status,
        "RUNNING",
        "nothing was stopped"
    );

    // The browser: a reader sees no stop button, an admin does. (`live=off`:
    // headless Chromium's virtual time waits for open requests, and a
    // running execution's page would hold its event stream open.)
    let reader_dom = browser_dom(addr, &format!("login={reader}&then=/exec/{id}?live=off"));
    let admin_dom = browser_dom(
        addr,
        &format!(
            "login={}&then=/exec/{id}?live=off",
            crate::harness::admin_secret()
        ),
    );
    if let (Some(reader_dom), Some(admin_dom)) = (reader_dom, admin_dom) {
        assert!(
            reader_dom.contains("viewer (reader)") && !reader_dom.contains("id=\"stop\""),
            "{reader_dom}"
        );
        assert!(admin_dom.contains("id=\"stop\""), "{admin_dom}");
        assert!(!admin_dom.contains("Sign in</h1>"), "{admin_dom}");
    }

    cross_site_form_post_is_refused(addr, &stop_path).await;
    assert_eq!(
        admin.describe_execution(&id).await.unwrap().status,
        "RUNNING",
        "another site's form stopped nothing"
    );

    let right = [
        ("Cookie", admin_cookie.as_str()),
        ("x-csrf-token", admin_csrf.as_str()),
    ];
    let (status, _, body) = request(addr, "POST", &stop_path, &right, "").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(admin.wait_for_end(&id).await.unwrap().status, "ABORTED");

    // Revoking the token ends its sessions.
    admin.revoke_token("viewer").await.unwrap();
    let (status, _, body) = request(addr, "GET", "/api/state-machines", &headers, "").await;
    assert!(
        status == 401 && body.contains("sign in again"),
        "{status} {body}"
    );
}

/// A browser signed in as admin opens a page of another site whose form
/// posts to the stop route: the console refuses it (the cookie is
/// SameSite=Strict, and the form cannot send the CSRF token).
async fn cross_site_form_post_is_refused(console: SocketAddr, stop_path: &str) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let page = format!(
        "<html><body><form method=\"POST\" action=\"https://{console}{stop_path}\"></form><script>document.forms[0].submit()</script></body></html>"
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf).await;
            let reply = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{page}",
                page.len()
            );
            let _ = stream.write_all(reply.as_bytes()).await;
        }
    });
    let profile = tempfile::TempDir::new().unwrap();
    let admin = crate::harness::admin_secret();
    let profile_path = profile.path().to_path_buf();
    let signed_in = tokio::task::spawn_blocking(move || {
        crate::console::chromium_dom(
            &format!("https://{console}/#login={admin}&then=/"),
            &profile_path,
        )
    })
    .await
    .unwrap();
    let Some(signed_in) = signed_in else { return };
    assert!(
        signed_in.contains("bootstrap (admin)"),
        "signed in first: {signed_in}"
    );
    // `localhost` is another site than `127.0.0.1`.
    let profile_path = profile.path().to_path_buf();
    let attacked = tokio::task::spawn_blocking(move || {
        crate::console::chromium_dom(&format!("http://localhost:{port}/"), &profile_path)
    })
    .await
    .unwrap()
    .unwrap();
    server.abort();
    assert!(
        attacked.contains("\"login\":true") || attacked.contains("CSRF"),
        "the console refused the post: {attacked}"
    );
}
