//! Signing in to the console: a token in, a session cookie out.
//!
//! ```text
//!  POST /api/session {token}     → Set-Cookie rf_session (HttpOnly, SameSite=Strict, Secure with TLS) + {name, role, csrf}
//!  GET  /api/session             → who the cookie names, and its CSRF token (401: sign in)
//!  POST /api/session/logout      → the cookie cleared (needs the CSRF token)
//! ```
//! Every other `/api` route takes the cookie or `authorization: Bearer`;
//! a change (stop) made with the cookie also needs the CSRF token.

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use crate::auth::methods::Rule;
use crate::auth::{session, Caller, Permission};
use crate::node::NodeContext;

fn refuse(status: StatusCode, message: impl Into<String>) -> Response {
    (
        status,
        Json(json!({ "error": message.into(), "login": status == StatusCode::UNAUTHORIZED })),
    )
        .into_response()
}

/// Who calls a console route, and the session value when a cookie says so.
pub(crate) struct Access {
    pub caller: Caller,
    pub session: Option<String>,
}

/// The caller of a console route, who must hold `permission`.
pub(crate) fn access(
    ctx: &NodeContext,
    headers: &HeaderMap,
    permission: Permission,
) -> Result<Access, Box<Response>> {
    let authorization = headers.get(header::AUTHORIZATION).map(|v| v.as_bytes());
    let session = cookie(headers).filter(|_| authorization.is_none());
    let rule = Rule::Needs(match permission {
        Permission::ReadCluster => &[Permission::ReadCluster],
        Permission::StopExecutions => &[Permission::StopExecutions],
        _ => &[Permission::ReadWorkflows],
    });
    match ctx
        .auth
        .check(authorization, session.as_deref(), None, rule)
    {
        Ok(caller) => Ok(Access { caller, session }),
        Err(status) => Err(Box::new(super::status_response(&status))),
    }
}

/// Refuses a change made with the session cookie but without its CSRF token.
pub(crate) fn check_csrf(
    ctx: &NodeContext,
    headers: &HeaderMap,
    access: &Access,
) -> Result<(), Box<Response>> {
    let (Some(value), Some(key)) = (&access.session, ctx.auth.session_key()) else {
        return Ok(()); // a bearer token: a browser never adds one by itself
    };
    let presented = headers
        .get(session::CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if session::check_csrf(&key, value, presented) {
        return Ok(());
    }
    ctx.auth.count(crate::auth::Denied::Csrf);
    Err(Box::new(refuse(
        StatusCode::FORBIDDEN,
        "this change needs the page's CSRF token (x-csrf-token): reload the console",
    )))
}

fn cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(session::from_cookie_header)
        .map(str::to_string)
}

#[derive(Deserialize)]
pub struct Login {
    token: String,
}

/// Signs in with a token: the session lasts 12 hours, or until the token
/// expires or is revoked.
pub async fn login(State(ctx): State<NodeContext>, Json(login): Json<Login>) -> Response {
    if !ctx.auth.enforcing() {
        return current_json(&ctx, &Caller::Insecure, None);
    }
    let bearer = format!("Bearer {}", login.token.trim());
    let record = match ctx.auth.identify(Some(bearer.as_bytes()), None, None) {
        Ok(Caller::Token { accessor, .. }) => ctx.reader.acl().get(&accessor).cloned(),
        Ok(Caller::Recovery) => {
            return refuse(StatusCode::CONFLICT, "the recovery token cannot sign in to the console: create an admin token with it (raftflow token create --role admin) and sign in with that");
        }
        Ok(_) => None,
        Err((reason, status)) => {
            ctx.auth.count(reason);
            return refuse(StatusCode::UNAUTHORIZED, status.message());
        }
    };
    let (Some(record), Some(key)) = (record, ctx.auth.session_key()) else {
        return refuse(StatusCode::CONFLICT, "the first admin token is still being committed (a cluster that just started): try again in a moment");
    };
    let expires_ms = ctx
        .auth
        .now_ms()
        .saturating_add(session::TTL_MS)
        .min(record.spec.expires_at_ms.unwrap_or(u64::MAX));
    let value = session::issue(&key, &record.spec.accessor, expires_ms);
    tracing::info!(accessor = %record.spec.accessor, name = %record.spec.name, "console sign-in");
    let secure = if ctx.security.is_tls() {
        "; Secure"
    } else {
        ""
    };
    let max_age_s = expires_ms.saturating_sub(ctx.auth.now_ms()) / 1000;
    let set_cookie = format!(
        "{}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_s}{secure}",
        session::COOKIE
    );
    let mut response = current_json(&ctx, &Caller::from_record(&record), Some(&value));
    if let Ok(value) = set_cookie.parse() {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// Who the cookie names, with its CSRF token.
pub async fn current(State(ctx): State<NodeContext>, headers: HeaderMap) -> Response {
    if !ctx.auth.enforcing() {
        return current_json(&ctx, &Caller::Insecure, None);
    }
    let Some(value) = cookie(&headers) else {
        return refuse(StatusCode::UNAUTHORIZED, "sign in with an API token");
    };
    match ctx.auth.identify(None, Some(&value), None) {
        Ok(caller) => current_json(&ctx, &caller, Some(&value)),
        Err((_, status)) => refuse(StatusCode::UNAUTHORIZED, status.message()),
    }
}

pub async fn logout(State(ctx): State<NodeContext>, headers: HeaderMap) -> Response {
    if let Ok(access) = access(&ctx, &headers, Permission::ReadWorkflows) {
        if let Err(refused) = check_csrf(&ctx, &headers, &access) {
            return *refused;
        }
    }
    let clear = format!(
        "{}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0",
        session::COOKIE
    );
    (
        [(header::SET_COOKIE, clear)],
        Json(json!({ "signed_out": true })),
    )
        .into_response()
}

fn current_json(ctx: &NodeContext, caller: &Caller, value: Option<&str>) -> Response {
    let csrf = match (value, ctx.auth.session_key()) {
        (Some(value), Some(key)) => session::csrf(&key, value),
        _ => String::new(),
    };
    let (name, accessor) = match caller {
        Caller::Token { name, accessor, .. } => (name.clone(), accessor.clone()),
        other => (other.label(), String::new()),
    };
    Json(json!({
        "name": name,
        "accessor": accessor,
        "role": caller.role().map_or("admin", |r| r.as_str()),
        "may_stop": caller.may(Permission::StopExecutions),
        "may_schedule": caller.may(Permission::WriteSchedules),
        "may_redrive": caller.may(Permission::WriteSubscriptions),
        "insecure": !ctx.auth.enforcing(),
        "csrf": csrf,
    }))
    .into_response()
}
