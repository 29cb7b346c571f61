//! The execution page redraws live in a real browser: Chromium driven over
//! the DevTools protocol on a pipe (`--remote-debugging-pipe`: JSON
//! messages ended by NUL on fds 3 and 4, no WebSocket), the page open on a
//! running execution, its task completed from outside, and the graph's
//! state seen to turn from running to succeeded without a reload.

use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::time::Duration;

use serde_json::{json, Value};

use crate::harness::{admin_secret, TestCluster};

const WAIT: Duration = Duration::from_secs(30);
const ONE_TASK: &str = r#"{"StartAt":"Work","States":{"Work":{"Type":"Task","Resource":"activity:redraw-work","End":true}}}"#;

/// A headless Chromium and the pipe that drives it.
struct Devtools {
    child: Child,
    to: std::fs::File,
    from: BufReader<std::fs::File>,
    next_id: u64,
    _home: tempfile::TempDir,
    _profile: tempfile::TempDir,
}

impl Devtools {
    fn start() -> Option<Devtools> {
        let chromium = crate::console::chromium("the live redraw check")?;
        let home = crate::console::trust_test_ca();
        let profile = tempfile::TempDir::new().unwrap();
        // Chromium reads commands on fd 3 and writes replies on fd 4.
        let (commands_read, commands_write) = nix::unistd::pipe().unwrap();
        let (replies_read, replies_write) = nix::unistd::pipe().unwrap();
        let (theirs_in, theirs_out) = (commands_read.as_raw_fd(), replies_write.as_raw_fd());
        let mut command = Command::new(chromium);
        command
            .env("HOME", home.path())
            .args(crate::console::chromium_args(profile.path()))
            .arg("--remote-debugging-pipe")
            .stderr(std::process::Stdio::null());
        // SAFETY: only async-signal-safe calls (dup2) between fork and exec.
        unsafe {
            command.pre_exec(move || {
                for (from, to) in [(theirs_in, 3), (theirs_out, 4)] {
                    if nix::libc::dup2(from, to) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        let child = command.spawn().expect("chromium starts");
        drop::<(OwnedFd, OwnedFd)>((commands_read, replies_write));
        Some(Devtools {
            child,
            to: commands_write.into(),
            from: BufReader::new(replies_read.into()),
            next_id: 0,
            _home: home,
            _profile: profile,
        })
    }

    /// Sends `method` (to the page of `session`, if given) and returns its
    /// result, passing over the events that arrive before it.
    fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let mut message = json!({"id": self.next_id, "method": method, "params": params});
        if let Some(session) = session {
            message["sessionId"] = json!(session);
        }
        let mut bytes = message.to_string().into_bytes();
        bytes.push(0);
        self.to.write_all(&bytes).unwrap();
        loop {
            let mut reply = Vec::new();
            let read = self.from.read_until(0, &mut reply).unwrap();
            assert!(read > 0, "chromium closed the pipe during {method}");
            reply.pop();
            let reply: Value = serde_json::from_slice(&reply).unwrap();
            if reply["id"] == json!(self.next_id) {
                assert!(reply.get("error").is_none(), "{method}: {reply}");
                return reply["result"].clone();
            }
        }
    }

    /// Opens `url` in a new page and waits for its load; the page's session.
    fn open(&mut self, url: &str) -> String {
        let target = self.call(None, "Target.createTarget", json!({"url": "about:blank"}));
        let attach = json!({"targetId": target["targetId"], "flatten": true});
        let attached = self.call(None, "Target.attachToTarget", attach);
        let session = attached["sessionId"].as_str().unwrap().to_string();
        self.call(Some(&session), "Page.enable", json!({}));
        self.call(Some(&session), "Page.navigate", json!({"url": url}));
        self.wait_event("Page.loadEventFired");
        session
    }

    /// Reads messages until an event named `method` arrives.
    fn wait_event(&mut self, method: &str) {
        loop {
            let mut message = Vec::new();
            let read = self.from.read_until(0, &mut message).unwrap();
            assert!(read > 0, "chromium closed the pipe waiting for {method}");
            message.pop();
            let message: Value = serde_json::from_slice(&message).unwrap();
            if message["method"] == json!(method) {
                return;
            }
        }
    }

    /// Evaluates `expression` (a promise) in the page and returns its value.
    fn eval(&mut self, session: &str, expression: &str) -> Value {
        let params = json!({"expression": expression, "awaitPromise": true, "returnByValue": true});
        let result = self.call(Some(session), "Runtime.evaluate", params);
        assert!(result.get("exceptionDetails").is_none(), "{result}");
        result["result"]["value"].clone()
    }
}

impl Drop for Devtools {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A promise resolving to the graph's status of state `Work` once it is
/// `want` (the page polls its own DOM; at most 20 s).
fn status_becomes(want: &str) -> String {
    format!(
        r#"new Promise((resolve) => {{
            const end = Date.now() + 20000;
            const look = () => {{
                const box = document.querySelector('[data-state="Work"]');
                const now = box ? box.dataset.status : "no graph";
                if (now === "{want}" || Date.now() > end) resolve(now);
                else setTimeout(look, 50);
            }};
            look();
        }})"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_execution_page_redraws_as_its_state_ends() {
    let cluster = TestCluster::start(1, |_| {}).await;
    cluster.wait_leader(WAIT).await;
    let client = cluster.client();
    client
        .create_state_machine("redraw", ONE_TASK, "")
        .await
        .unwrap();
    let id = client
        .start_execution("redraw", Some("watched"), "{}")
        .await
        .unwrap()
        .execution_id;
    let addr = cluster.running().next().unwrap().http_addr.unwrap();
    let url = format!("https://{addr}/#login={}&then=/exec/{id}", admin_secret());
    let (mut browser, session) = tokio::task::block_in_place(|| {
        let mut browser = Devtools::start()?;
        let session = browser.open(&url);
        Some((browser, session))
    })
    .map_or((None, String::new()), |(b, s)| (Some(b), s));
    let Some(browser) = browser.as_mut() else {
        return;
    };
    let first = tokio::task::block_in_place(|| {
        let status = browser.eval(&session, &status_becomes("running"));
        // Gone if the page reloads: the redraw must come from the stream.
        browser.eval(&session, "window.__same_page = 1");
        (status, browser.eval(&session, "document.body.dataset.live"))
    });
    assert_eq!(
        first,
        (json!("running"), json!("open")),
        "following the stream"
    );

    let activities = vec!["redraw-work".to_string()];
    let task = loop {
        if let Some(t) = client.poll_task(&activities, "w", 5_000).await.unwrap() {
            break t;
        }
    };
    client.complete_task(&task.token, "{}").await.unwrap();
    let (after, same_page, streamed) = tokio::task::block_in_place(|| {
        let status = browser.eval(&session, &status_becomes("succeeded"));
        let same_page = browser.eval(&session, "window.__same_page === 1");
        let streamed = browser.eval(&session, "Number(document.body.dataset.liveEvents || 0)");
        (status, same_page, streamed)
    });
    assert_eq!(after, "succeeded", "the graph redraws live");
    assert_eq!(same_page, json!(true), "without reloading the page");
    // ActivityStarted, ActivitySucceeded, TaskStateExited, ExecutionSucceeded.
    assert!(
        streamed.as_u64() >= Some(4),
        "events came by the stream: {streamed}"
    );
}
