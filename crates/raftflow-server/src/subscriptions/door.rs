//! What the API checks before a subscription is sealed and proposed: the
//! name, the state machine, the changes, the URL (against this node's
//! `[outbound]` rules, which every node should share), the connection's
//! name, the secret's size and the delivery limits. Errors name the field,
//! never the secret.

use raftflow_proto::v1::{ExecutionChange, SaveSubscriptionRequest};
use raftflow_store::subscriptions::{
    Change, MAX_AGE_S, MAX_ATTEMPTS, MAX_SUBSCRIPTION_NAME_CHARS, MAX_URL_BYTES,
};

use crate::error::ApiError;
use crate::limits;
use crate::outbound::policy::Destinations;

/// A signing secret, at least and at most (bytes).
pub const MIN_SECRET_BYTES: usize = 16;
pub const MAX_SECRET_BYTES: usize = 4096;
/// Attempts per event when the request gives none.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 20;

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::InvalidArgument(message.into())
}

/// A subscription's name: what `limits::name` allows, in at most 64 characters.
pub fn name(value: &str) -> Result<(), ApiError> {
    limits::name("the subscription name", value)?;
    if value.len() > MAX_SUBSCRIPTION_NAME_CHARS {
        return Err(invalid(format!(
            "the subscription name has {} characters; at most {MAX_SUBSCRIPTION_NAME_CHARS}",
            value.len()
        )));
    }
    Ok(())
}

/// The changes of a request, ascending and each once.
pub fn changes(on: &[i32]) -> Result<Vec<Change>, ApiError> {
    let mut changes = Vec::with_capacity(on.len());
    for value in on {
        let change = match ExecutionChange::try_from(*value) {
            Ok(ExecutionChange::Started) => Change::Started,
            Ok(ExecutionChange::Succeeded) => Change::Succeeded,
            Ok(ExecutionChange::Failed) => Change::Failed,
            Ok(ExecutionChange::TimedOut) => Change::TimedOut,
            Ok(ExecutionChange::Aborted) => Change::Aborted,
            _ => return Err(invalid(format!("`on` holds {value}, not a change"))),
        };
        changes.push(change);
    }
    changes.sort();
    changes.dedup();
    if changes.is_empty() {
        return Err(invalid(
            "`on` is empty: give one or more of started, succeeded, failed, timed-out, aborted",
        ));
    }
    Ok(changes)
}

/// The proto value of a change.
pub fn proto_change(change: Change) -> ExecutionChange {
    match change {
        Change::Started => ExecutionChange::Started,
        Change::Succeeded => ExecutionChange::Succeeded,
        Change::Failed => ExecutionChange::Failed,
        Change::TimedOut => ExecutionChange::TimedOut,
        Change::Aborted => ExecutionChange::Aborted,
    }
}

/// Checks the request; returns its changes, max attempts and max age.
pub fn checked(
    request: &SaveSubscriptionRequest,
    destinations: &Destinations,
) -> Result<(Vec<Change>, u32, u64), ApiError> {
    name(&request.name)?;
    limits::name("the state machine name", &request.state_machine)?;
    if !request.connection.is_empty() {
        crate::connections::door::name(&request.connection)?;
    }
    crate::schedules::door::bytes(
        "the description",
        &request.description,
        raftflow_store::schedules::MAX_TEXT_BYTES,
    )?;
    url(&request.url, destinations)?;
    let secret = request.signing_secret.len();
    if !(MIN_SECRET_BYTES..=MAX_SECRET_BYTES).contains(&secret) {
        return Err(invalid(format!(
            "the signing secret has {secret} bytes; give {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} (raftflow connection keygen makes one)"
        )));
    }
    let max_attempts = match request.max_attempts {
        0 => DEFAULT_MAX_ATTEMPTS,
        n if n > MAX_ATTEMPTS => {
            return Err(invalid(format!(
                "max attempts are at most {MAX_ATTEMPTS}, not {n}"
            )))
        }
        n => n,
    };
    let max_age_s = match request.max_age_s {
        0 => MAX_AGE_S,
        n if n > MAX_AGE_S => {
            return Err(invalid(format!(
                "the maximum event age is at most {MAX_AGE_S} s, not {n}"
            )))
        }
        n => n,
    };
    Ok((changes(&request.on)?, max_attempts, max_age_s))
}

fn url(text: &str, destinations: &Destinations) -> Result<(), ApiError> {
    if text.len() > MAX_URL_BYTES {
        return Err(invalid(format!(
            "the URL has {} bytes; at most {MAX_URL_BYTES}",
            text.len()
        )));
    }
    let parsed = text
        .parse::<http::Uri>()
        .map_err(|e| invalid(format!("the URL `{}`: {e}", text.escape_debug())))?;
    destinations
        .check_url(&parsed)
        .map_err(|e| invalid(format!("the URL `{text}` is refused by [outbound]: {e}")))?;
    Ok(())
}
