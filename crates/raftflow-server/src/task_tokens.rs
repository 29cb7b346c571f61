//! A report's task token at the door: the attempt it names, the epoch that
//! handed it out, and (apply version 8 on) whether its secret is that
//! attempt's. The secret is checked here in constant time, before anything
//! looks the attempt up, so no lookup's timing depends on it; apply then
//! finds the attempt by the whole token (raftflow_core::task_token).

use raftflow_core::task_token;

use crate::error::ApiError;
use crate::limits;
use crate::node::NodeContext;

/// Splits `token` into the attempt (with its secret, as apply keys it) and,
/// for worker tokens, the epoch; refuses a secret that is not the attempt's.
pub fn parse(ctx: &NodeContext, token: &str) -> Result<(String, Option<u64>), ApiError> {
    let (attempt, epoch) = split_epoch(token)?;
    if let (name, Some(secret)) = task_token::split(&attempt) {
        let key = ctx.reader.acl().bootstrap().map(|b| b.task_key());
        if !key.is_some_and(|k| k.verify(name, secret)) {
            return Err(ApiError::InvalidToken(format!(
                "the secret in task token `{name}~…` is not that attempt's: a task token is valid only exactly as it was handed out"
            )));
        }
    }
    Ok((attempt, epoch))
}

/// Splits a token into the attempt and, for worker tokens, the epoch.
pub fn split_epoch(token: &str) -> Result<(String, Option<u64>), ApiError> {
    limits::required("the task token", token, limits::MAX_TOKEN_CHARS)?;
    if !token.contains('#') {
        return Err(ApiError::InvalidToken(format!(
            "`{}` is not a raftflow task token",
            task_token::redact(token)
        )));
    }
    match token.rsplit_once('@') {
        Some((attempt, epoch)) => {
            let epoch = epoch.parse().map_err(|_| {
                ApiError::InvalidToken(format!(
                    "`{}` has a malformed epoch",
                    task_token::redact(attempt)
                ))
            })?;
            Ok((attempt.to_string(), Some(epoch)))
        }
        None => Ok((token.to_string(), None)),
    }
}
