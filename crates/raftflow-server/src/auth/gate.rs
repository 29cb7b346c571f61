//! The check itself: who presents this credential, and may they call this.

use std::sync::atomic::{AtomicU64, Ordering};

use raftflow_store::StateReader;
use tonic::Status;

use super::methods::Rule;
use super::{secret, AuthConfig, Caller, Permission};

/// Why a call was refused: the label of `raftflow_auth_denied_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    Missing,
    Malformed,
    Unknown,
    Expired,
    NotBootstrapped,
    Role,
    Scope,
    /// A console change without the session's CSRF token.
    Csrf,
    /// Past its token's rate limit on this node.
    RateLimited,
}

impl Denied {
    pub const ALL: [Denied; 9] = [
        Denied::Missing,
        Denied::Malformed,
        Denied::Unknown,
        Denied::Expired,
        Denied::NotBootstrapped,
        Denied::Role,
        Denied::Scope,
        Denied::Csrf,
        Denied::RateLimited,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Denied::Missing => "missing",
            Denied::Malformed => "malformed",
            Denied::Unknown => "unknown",
            Denied::Expired => "expired",
            Denied::NotBootstrapped => "not_bootstrapped",
            Denied::Role => "role",
            Denied::Scope => "scope",
            Denied::Csrf => "csrf",
            Denied::RateLimited => "rate_limited",
        }
    }
}

pub struct Gate {
    enforce: bool,
    reader: StateReader,
    /// The configured bootstrap secret's hash (`[auth] bootstrap_token_file`).
    bootstrap_hash: Option<Vec<u8>>,
    scrape_hash: Option<Vec<u8>>,
    recovery_hash: Option<Vec<u8>>,
    denied: [AtomicU64; 9],
    limiter: super::audit::Limiter,
    rate_limits: super::rate::RateLimits,
    buckets: super::rate::Buckets,
}

impl Gate {
    /// `enforce` is false only with `insecure = true`. Reads the configured
    /// secrets now, so that a missing file stops the start with its name.
    pub fn new(enforce: bool, config: &AuthConfig, reader: StateReader) -> Result<Self, String> {
        // With insecure = true the files are not needed, nor read.
        let read = |field: &str, path: &Option<std::path::PathBuf>| {
            path.as_deref()
                .filter(|_| enforce)
                .map(|p| secret::read_file(p).map(|s| secret::hash(&s)))
                .transpose()
                .map_err(|e| format!("auth.{field}: {e}"))
        };
        Ok(Self {
            enforce,
            reader,
            bootstrap_hash: read("bootstrap_token_file", &config.bootstrap_token_file)?,
            scrape_hash: read("scrape_token_file", &config.scrape_token_file)?,
            recovery_hash: read("recovery_token_file", &config.recovery_token_file)?,
            denied: Default::default(),
            limiter: Default::default(),
            rate_limits: config.rate_limits.clone(),
            buckets: Default::default(),
        })
    }

    /// Now on this node's wall clock, as expiries are checked.
    pub fn now_ms(&self) -> u64 {
        now_ms()
    }

    /// Holds back audit lines of refused calls (one a second per caller).
    pub fn limiter(&self) -> &super::audit::Limiter {
        &self.limiter
    }

    pub fn enforcing(&self) -> bool {
        self.enforce
    }

    /// The configured bootstrap secret's hash, for the leader's bootstrap.
    pub fn bootstrap_hash(&self) -> Option<&[u8]> {
        self.bootstrap_hash.as_deref()
    }

    /// Who presents `authorization` (the header's value) or a console
    /// `session`, on a connection whose client certificate names `peer_node`.
    pub fn identify(
        &self,
        authorization: Option<&[u8]>,
        session: Option<&str>,
        peer_node: Option<u64>,
    ) -> Result<Caller, (Denied, Status)> {
        if !self.enforce {
            return Ok(Caller::Insecure);
        }
        let Some(value) = authorization else {
            if let Some(session) = session {
                return self.identify_session(session);
            }
            return Ok(peer_node.map_or(Caller::Anonymous, Caller::Node));
        };
        let secret = bearer(value).ok_or_else(|| {
            (
                Denied::Malformed,
                Status::unauthenticated(
                    "the authorization header is not `Bearer <token>` (at most 256 bytes)",
                ),
            )
        })?;
        let hash = secret::hash(secret);
        let table = self.reader.acl();
        if let Some(record) = table.by_secret_hash(&hash) {
            if record.expired_at(now_ms()) {
                return Err((
                    Denied::Expired,
                    Status::unauthenticated(format!(
                        "token {} ({}) expired at {} ms since the Unix epoch: ask an admin for a new one",
                        record.spec.accessor,
                        record.spec.name,
                        record.spec.expires_at_ms.unwrap_or(0)
                    )),
                ));
            }
            return Ok(Caller::from_record(record));
        }
        if table.bootstrap().is_none() && self.bootstrap_hash.as_deref() == Some(&hash[..]) {
            return Ok(Caller::BootstrapPending);
        }
        if self.recovery_hash.as_deref() == Some(&hash[..]) {
            tracing::warn!("a call with [auth] recovery_token_file's token: create a new admin token, then remove the file and restart");
            return Ok(Caller::Recovery);
        }
        Err((
            Denied::Unknown,
            Status::unauthenticated(
                "the token is not known to this node: revoked, rotated, mistyped, or from another cluster",
            ),
        ))
    }

    /// The token a console session names, if the session is this
    /// cluster's, unexpired, and its token still lives.
    fn identify_session(&self, value: &str) -> Result<Caller, (Denied, Status)> {
        let table = self.reader.acl();
        let now = now_ms();
        let record = table
            .bootstrap()
            .and_then(|b| super::session::verify(&b.session_key, value, now))
            .and_then(|accessor| table.get(&accessor).cloned());
        match record {
            Some(record) if !record.expired_at(now) => Ok(Caller::from_record(&record)),
            _ => Err((
                Denied::Unknown,
                Status::unauthenticated("the console session is not valid (expired, signed out, or its token was revoked): sign in again"),
            )),
        }
    }

    /// The session key, once the cluster is bootstrapped.
    pub fn session_key(&self) -> Option<Vec<u8>> {
        self.reader.acl().bootstrap().map(|b| b.session_key.clone())
    }

    /// `identify` then `authorize`, counting a refusal.
    pub fn check(
        &self,
        authorization: Option<&[u8]>,
        session: Option<&str>,
        peer_node: Option<u64>,
        rule: Rule,
    ) -> Result<Caller, Status> {
        self.check_or_redirect(authorization, session, peer_node, rule, || None)
    }

    /// `check`, but a token this node does not know is sent on to the
    /// leader when `redirect` names one: a token created a moment ago may
    /// not have reached this follower yet, while the leader answered its
    /// creation only after applying it. Not counted as a refusal here; the
    /// leader's answer is the final one.
    pub fn check_or_redirect(
        &self,
        authorization: Option<&[u8]>,
        session: Option<&str>,
        peer_node: Option<u64>,
        rule: Rule,
        redirect: impl FnOnce() -> Option<Status>,
    ) -> Result<Caller, Status> {
        self.identify(authorization, session, peer_node)
            .and_then(|caller| self.authorize(&caller, rule).map(|()| caller))
            .and_then(|caller| self.within_rate(&caller).map(|()| caller))
            .map_err(|(reason, status)| {
                if reason == Denied::Unknown && authorization.is_some() {
                    if let Some(redirect) = redirect() {
                        return redirect;
                    }
                }
                self.count(reason);
                status
            })
    }

    /// Refuses a call past its token's rate on this node, with how long to
    /// wait in `retry-after-ms`.
    fn within_rate(&self, caller: &Caller) -> Result<(), (Denied, Status)> {
        let Caller::Token {
            accessor,
            role,
            name,
            ..
        } = caller
        else {
            return Ok(());
        };
        let rps = self.rate_limits.of(*role);
        if rps == 0 {
            return Ok(());
        }
        let Err(wait) = self.buckets.take(accessor, rps, std::time::Instant::now()) else {
            return Ok(());
        };
        let wait_ms = wait.as_millis().max(1) as u64;
        let mut status = Status::resource_exhausted(format!(
            "token {accessor} ({name}) made more than its {rps} requests per second on this node ({role} tokens, [auth.rate_limits]); retry after {wait_ms} ms"
        ));
        status
            .metadata_mut()
            .insert("retry-after-ms", wait_ms.into());
        Err((Denied::RateLimited, status))
    }

    /// Whether `caller` may make a call with `rule`.
    pub fn authorize(&self, caller: &Caller, rule: Rule) -> Result<(), (Denied, Status)> {
        let needs = match rule {
            Rule::Open => return Ok(()),
            Rule::Authenticated if *caller != Caller::Anonymous => return Ok(()),
            Rule::Authenticated => &[][..],
            Rule::Needs(needs) => needs,
        };
        if needs.iter().any(|p| caller.may(*p)) {
            return Ok(());
        }
        let named = match needs.first() {
            Some(p) => format!("permission {p}"),
            None => "a token".to_string(),
        };
        if *caller != Caller::Anonymous && !matches!(caller, Caller::Node(_)) {
            return Err((
                Denied::Role,
                Status::permission_denied(format!(
                    "{} lacks {named} (roles that have it: {})",
                    caller.label(),
                    roles_with(needs)
                )),
            ));
        }
        if self.reader.acl().bootstrap().is_none() {
            return Err((
                Denied::NotBootstrapped,
                Status::unauthenticated(format!(
                    "this call needs {named}, and the cluster has no tokens yet: run `raftflow acl bootstrap` (or set [auth] bootstrap_token_file)"
                )),
            ));
        }
        Err((
            Denied::Missing,
            Status::unauthenticated(format!(
                "this call needs {named}: send `authorization: Bearer <token>` (raftflow --token or RAFTFLOW_TOKEN)"
            )),
        ))
    }

    /// Whether `authorization` carries the configured scrape secret.
    pub fn is_scrape_token(&self, authorization: Option<&[u8]>) -> bool {
        let presented = authorization.and_then(bearer).map(secret::hash);
        presented.is_some() && presented.as_deref() == self.scrape_hash.as_deref()
    }

    /// Counts a handler's scope refusal on its way out.
    pub fn scoped(&self, checked: Result<(), Status>) -> Result<(), Status> {
        checked.inspect_err(|_| self.count(Denied::Scope))
    }

    pub fn count(&self, denied: Denied) {
        self.denied[denied as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Refusals since this node started, by reason.
    pub fn denied_counts(&self) -> Vec<(&'static str, u64)> {
        Denied::ALL
            .iter()
            .map(|d| (d.as_str(), self.denied[*d as usize].load(Ordering::Relaxed)))
            .collect()
    }
}

/// The secret of `Bearer <secret>` (the scheme in any case).
fn bearer(value: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(value).ok()?;
    let (scheme, secret) = text.trim().split_once(' ')?;
    let secret = secret.trim();
    (scheme.eq_ignore_ascii_case("bearer")
        && !secret.is_empty()
        && secret.len() <= secret::MAX_SECRET_BYTES)
        .then_some(secret)
}

fn roles_with(needs: &[Permission]) -> String {
    let roles: Vec<&str> = super::Role::ALL
        .iter()
        .filter(|r| needs.iter().any(|p| super::allows(**r, *p)))
        .map(|r| r.as_str())
        .collect();
    roles.join(", ")
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
