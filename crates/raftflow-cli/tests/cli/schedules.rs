//! `raftflow schedule` against a cluster of real processes: create with a
//! zone and the placeholder, describe, update, pause, trigger, delete, and
//! a bad spec named in the error.

use std::time::Duration;

use crate::common::{stderr, stdout, Cluster};

fn json(out: &std::process::Output) -> serde_json::Value {
    assert!(out.status.success(), "{}", stderr(out));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn schedules_from_the_command_line() {
    let cluster = Cluster::start();
    cluster.wait_leader(Duration::from_secs(30));
    let def = cluster.dir.path().join("pass.json");
    std::fs::write(
        &def,
        r#"{"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}"#,
    )
    .unwrap();
    let out = cluster.cli(
        &["workflow", "create", "--name", "pass", "--definition"]
            .iter()
            .copied()
            .chain([def.to_str().unwrap()])
            .collect::<Vec<_>>(),
    );
    assert!(out.status.success(), "{}", stderr(&out));

    let out = cluster.cli(&[
        "schedule",
        "create",
        "hourly",
        "--state-machine",
        "pass",
        "--spec",
        "cron(0 * * * ? *)",
        "--zone",
        "Europe/Berlin",
        "--input",
        r#"{"at": "<aws.scheduler.scheduled-time>"}"#,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("hourly saved"), "{}", stdout(&out));
    assert!(
        stdout(&out).contains(":00:00 CE"),
        "next times in the zone: {}",
        stdout(&out)
    );

    let out = cluster.cli(&[
        "schedule",
        "create",
        "bad",
        "--state-machine",
        "pass",
        "--spec",
        "cron(0 12 * * *)",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("cron(0 12 * * *)"),
        "{}",
        stderr(&out)
    );

    let out = cluster.cli(&["schedule", "update", "hourly", "--overlap", "allow-all"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let described = json(&cluster.cli(&["-o", "json", "schedule", "describe", "hourly"]));
    assert_eq!(described["overlap"], "allow_all");
    assert_eq!(
        described["time_zone"], "Europe/Berlin",
        "update keeps the other fields"
    );
    assert_eq!(described["revision"], 2);
    assert_eq!(described["next_fire_ms"].as_array().unwrap().len(), 10);

    // A second spec, an excluded date and a jitter; then a backfill of the
    // three hours before the schedule existed, twice: the second starts nothing.
    let out = cluster.cli(&[
        "schedule",
        "update",
        "hourly",
        "--also-spec",
        "30 * * * *",
        "--exclude-date",
        "2099-01-01,2098-12-31",
        "--jitter",
        "90s",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let described = json(&cluster.cli(&["-o", "json", "schedule", "describe", "hourly"]));
    assert_eq!(described["more_specs"], serde_json::json!(["30 * * * *"]));
    assert_eq!(
        described["exclude_dates"],
        serde_json::json!(["2098-12-31", "2099-01-01"])
    );
    assert_eq!(described["jitter_ms"], 90_000);
    let to = described["cursor_ms"].as_u64().unwrap();
    let (from, to) = ((to - 3 * 3_600_000).to_string(), to.to_string());
    let backfill = [
        "-o", "json", "schedule", "backfill", "hourly", "--from", &from, "--to", &to,
    ];
    let first = json(&cluster.cli(&backfill));
    let times = first["times"].as_u64().unwrap();
    assert!(times >= 6, "{first}");
    assert_eq!(first["started"], times, "{first}");
    let again = json(&cluster.cli(&backfill));
    assert_eq!(
        (again["started"].as_u64(), again["already"].as_u64()),
        (Some(0), Some(times))
    );
    let out = cluster.cli(&[
        "schedule",
        "backfill",
        "hourly",
        "--from",
        "yesterday",
        "--to",
        &to,
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));

    let out = cluster.cli(&["schedule", "pause", "hourly", "--note", "freeze"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let listed = stdout(&cluster.cli(&["schedule", "list"]));
    assert!(
        listed.contains("hourly") && listed.contains("paused"),
        "{listed}"
    );
    let action = json(&cluster.cli(&["-o", "json", "schedule", "trigger", "hourly"]));
    assert_eq!(action["outcome"], "started");
    let id = action["execution_id"].as_str().unwrap().to_string();
    assert!(id.starts_with("pass:hourly-trigger-"), "{id}");
    let out = cluster.cli(&["execution", "watch", &id]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = cluster.cli(&["schedule", "delete", "hourly"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = cluster.cli(&["schedule", "describe", "hourly"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("does not exist"), "{}", stderr(&out));
}
