//! Configuration from environment variables, over the TOML file (or in its
//! place), so that a container needs no templating: the image holds no
//! config, or a shared one, and each node's variables say who it is.
//!
//! Only `raftflow server` reads them; `raftflow dev` starts three nodes in
//! one environment and reads their files alone. The variables are a fixed,
//! documented list (docs/operations.md, "Deploy"): a typo in a name is not
//! a field, so the node says which variables it knows.

use std::path::{Path, PathBuf};

use crate::config::{ConfigError, NodeConfig};

/// How a variable's text becomes a TOML value.
#[derive(Clone, Copy)]
enum Kind {
    Text,
    Integer,
    Bool,
}

/// Each variable and the field it sets (a path into the TOML table).
const VARS: &[(&str, &[&str], Kind)] = &[
    ("RAFTFLOW_ID", &["id"], Kind::Integer),
    ("RAFTFLOW_INSECURE", &["insecure"], Kind::Bool),
    ("RAFTFLOW_RAFT_ADDR", &["raft_addr"], Kind::Text),
    ("RAFTFLOW_API_ADDR", &["api_addr"], Kind::Text),
    ("RAFTFLOW_HTTP_ADDR", &["http_addr"], Kind::Text),
    (
        "RAFTFLOW_ADVERTISE_RAFT_ADDR",
        &["advertise_raft_addr"],
        Kind::Text,
    ),
    (
        "RAFTFLOW_ADVERTISE_API_ADDR",
        &["advertise_api_addr"],
        Kind::Text,
    ),
    ("RAFTFLOW_DATA_DIR", &["data_dir"], Kind::Text),
    ("RAFTFLOW_TLS_CA_FILE", &["tls", "ca_file"], Kind::Text),
    ("RAFTFLOW_TLS_CERT_FILE", &["tls", "cert_file"], Kind::Text),
    ("RAFTFLOW_TLS_KEY_FILE", &["tls", "key_file"], Kind::Text),
    (
        "RAFTFLOW_BOOTSTRAP_TOKEN_FILE",
        &["auth", "bootstrap_token_file"],
        Kind::Text,
    ),
    (
        "RAFTFLOW_CONNECTIONS_KEY_FILE",
        &["connections", "key_file"],
        Kind::Text,
    ),
    (
        "RAFTFLOW_MIN_FREE_MB",
        &["storage", "min_free_mb"],
        Kind::Integer,
    ),
    ("RAFTFLOW_QUOTA_MB", &["storage", "quota_mb"], Kind::Integer),
    (
        "RAFTFLOW_RETENTION_HOURS",
        &["scheduler", "retention_hours"],
        Kind::Integer,
    ),
    (
        "RAFTFLOW_OTLP_ENDPOINT",
        &["telemetry", "otlp_endpoint"],
        Kind::Text,
    ),
];
/// `1=node1:7101/node1:7201,2=…`: id, Raft address, API address per member.
const INITIAL_MEMBERS: &str = "RAFTFLOW_INITIAL_MEMBERS";
/// `true`: the id is the ordinal at the end of the host name, plus one
/// (a StatefulSet's `raftflow-0` is node 1): ids start at 1.
const ID_FROM_HOSTNAME: &str = "RAFTFLOW_ID_FROM_HOSTNAME";

/// The names this module reads, for docs and error messages.
pub fn names() -> Vec<&'static str> {
    let mut names: Vec<&str> = VARS.iter().map(|(name, _, _)| *name).collect();
    names.extend([INITIAL_MEMBERS, ID_FROM_HOSTNAME]);
    names
}

/// Loads the file at `path` (or starts from nothing), sets the fields the
/// variables name, then checks the whole as `NodeConfig::load` does.
/// Relative paths from the file are taken from its folder; from a
/// variable, from the working directory.
pub fn load(
    path: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<NodeConfig, ConfigError> {
    let source = path.map_or_else(|| PathBuf::from("(environment)"), Path::to_path_buf);
    let invalid = |field: &'static str, message: String| ConfigError::Invalid {
        path: source.clone(),
        field,
        message,
    };
    let text = match path {
        Some(path) => std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            path: path.to_path_buf(),
            source: e,
        })?,
        None => String::new(),
    };
    let mut table: toml::Table = toml::from_str(&text).map_err(|e| ConfigError::Parse {
        path: source.clone(),
        message: e.to_string().trim_end().to_string(),
    })?;
    overlay(&mut table, env).map_err(|(field, message)| invalid(field, message))?;
    let mut config: NodeConfig =
        toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Parse {
                path: source.clone(),
                message: format!("{} (with the RAFTFLOW_* variables applied)", e.message()),
            })?;
    // Variables' relative paths were made absolute from the working
    // directory; what is left relative came from the file.
    config.resolve_paths(path.and_then(Path::parent).unwrap_or(Path::new(".")));
    config.checked(&source)
}

fn set(table: &mut toml::Table, path: &[&str], value: toml::Value) {
    let (last, parents) = path.split_last().expect("a field path");
    let mut at = table;
    for key in parents {
        let entry = at
            .entry(key.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if !entry.is_table() {
            *entry = toml::Value::Table(toml::Table::new());
        }
        at = entry.as_table_mut().expect("made a table");
    }
    at.insert(last.to_string(), value);
}

type Invalid = (&'static str, String);

fn overlay(table: &mut toml::Table, env: &dyn Fn(&str) -> Option<String>) -> Result<(), Invalid> {
    for (name, path, kind) in VARS {
        let Some(text) = env(name) else { continue };
        let text = if name.ends_with("_FILE") || *name == "RAFTFLOW_DATA_DIR" {
            absolute(&text)
        } else {
            text
        };
        set(table, path, value(name, &text, *kind)?);
    }
    if let Some(text) = env(INITIAL_MEMBERS) {
        set(table, &["initial_members"], initial_members(&text)?);
    }
    if let Some(text) = env(ID_FROM_HOSTNAME) {
        if value(ID_FROM_HOSTNAME, &text, Kind::Bool)?.as_bool() == Some(true) {
            let host = env("HOSTNAME")
                .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
                .unwrap_or_default();
            set(
                table,
                &["id"],
                toml::Value::Integer(id_from_hostname(host.trim())?),
            );
        }
    }
    Ok(())
}

/// A path from a variable, taken from the working directory.
fn absolute(text: &str) -> String {
    let path = Path::new(text);
    if path.is_absolute() {
        return text.to_string();
    }
    std::env::current_dir()
        .map(|cwd| cwd.join(path).display().to_string())
        .unwrap_or_else(|_| text.to_string())
}

fn value(name: &'static str, text: &str, kind: Kind) -> Result<toml::Value, Invalid> {
    match kind {
        Kind::Text => Ok(toml::Value::String(text.to_string())),
        Kind::Integer => text
            .trim()
            .parse::<i64>()
            .map(toml::Value::Integer)
            .map_err(|_| (name, format!("`{text}` is not a whole number"))),
        Kind::Bool => match text.trim() {
            "true" | "1" => Ok(toml::Value::Boolean(true)),
            "false" | "0" | "" => Ok(toml::Value::Boolean(false)),
            other => Err((name, format!("`{other}` is not true or false"))),
        },
    }
}

/// `1=node1:7101/node1:7201,2=node2:7101/node2:7201`.
fn initial_members(text: &str) -> Result<toml::Value, Invalid> {
    let bad = |part: &str| {
        (
            INITIAL_MEMBERS,
            format!("`{part}` is not ID=RAFT_ADDR/API_ADDR (members are separated by commas)"),
        )
    };
    let mut members = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (id, addrs) = part.split_once('=').ok_or_else(|| bad(part))?;
        let (raft, api) = addrs.split_once('/').ok_or_else(|| bad(part))?;
        let id: i64 = id.trim().parse().map_err(|_| bad(part))?;
        let mut member = toml::Table::new();
        member.insert("id".into(), toml::Value::Integer(id));
        member.insert("raft_addr".into(), toml::Value::String(raft.trim().into()));
        member.insert("api_addr".into(), toml::Value::String(api.trim().into()));
        members.push(toml::Value::Table(member));
    }
    Ok(toml::Value::Array(members))
}

/// `raftflow-2` → 3.
fn id_from_hostname(host: &str) -> Result<i64, Invalid> {
    host.rsplit_once('-')
        .and_then(|(_, ordinal)| ordinal.parse::<i64>().ok())
        .and_then(|ordinal| ordinal.checked_add(1))
        .ok_or((
            ID_FROM_HOSTNAME,
            format!(
                "the host name `{host}` does not end in -<ordinal> (a StatefulSet pod's name does)"
            ),
        ))
}

#[cfg(test)]
#[path = "config_env_tests.rs"]
mod tests;
