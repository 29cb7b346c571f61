//! What the API checks before a connection's secret is sealed: the name,
//! the kind and each credential's shape and size. Errors name the field,
//! never its value.

use raftflow_proto::v1::save_connection_request::Credentials;
use raftflow_proto::v1::SaveConnectionRequest;
use raftflow_store::connections::{Kind, MAX_CONNECTION_NAME_CHARS, MAX_SEALED_BYTES, TAG_BYTES};
use raftflow_store::schedules::MAX_TEXT_BYTES;

use super::seal::Secret;
use crate::error::ApiError;
use crate::limits;

/// A token, password or API key, at most.
pub const MAX_SECRET_VALUE_BYTES: usize = 4096;
/// Headers a connection may not set: the caller sets them itself.
const RESERVED_HEADERS: [&str; 8] = [
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "content-type",
    "idempotency-key",
    "x-raftflow-attempt",
    "x-raftflow-task-token",
];

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::InvalidArgument(message.into())
}

/// A connection's name: what `limits::name` allows, in at most 64 characters.
pub fn name(value: &str) -> Result<(), ApiError> {
    limits::name("the connection name", value)?;
    if value.len() > MAX_CONNECTION_NAME_CHARS {
        return Err(invalid(format!(
            "the connection name has {} characters; at most {MAX_CONNECTION_NAME_CHARS}",
            value.len()
        )));
    }
    Ok(())
}

/// The kind and the secret a save carries, checked.
pub fn checked(request: &SaveConnectionRequest) -> Result<(Kind, Secret), ApiError> {
    name(&request.name)?;
    crate::schedules::door::bytes("the description", &request.description, MAX_TEXT_BYTES)?;
    let credentials = request.credentials.as_ref().ok_or_else(|| {
        invalid("the request has no credentials: give bearer, basic, api_key or client_cert")
    })?;
    let (kind, secret) = match credentials {
        Credentials::Bearer(b) => {
            header_value("bearer.token", &b.token)?;
            let token = b.token.clone();
            (Kind::Bearer, Secret::Bearer { token })
        }
        Credentials::Basic(b) => basic(&b.username, &b.password)?,
        Credentials::ApiKey(a) => {
            header_name(&a.header)?;
            header_value("api_key.value", &a.value)?;
            let kind = Kind::ApiKey {
                header: a.header.clone(),
            };
            (
                kind,
                Secret::ApiKey {
                    value: a.value.clone(),
                },
            )
        }
        Credentials::ClientCert(c) => {
            client_identity(&c.cert_pem, &c.key_pem).map_err(invalid)?;
            let secret = Secret::ClientCert {
                cert_pem: c.cert_pem.clone(),
                key_pem: c.key_pem.clone(),
            };
            (Kind::ClientCert, secret)
        }
    };
    let sealed_bytes = serde_json::to_vec(&secret).map_or(usize::MAX, |b| b.len()) + TAG_BYTES;
    if sealed_bytes > MAX_SEALED_BYTES {
        return Err(invalid(format!(
            "the credentials take {sealed_bytes} bytes sealed; at most {MAX_SEALED_BYTES}"
        )));
    }
    Ok((kind, secret))
}

fn basic(username: &str, password: &str) -> Result<(Kind, Secret), ApiError> {
    if username.is_empty() || username.contains(':') {
        return Err(invalid(
            "basic.username must be given and hold no `:` (RFC 7617)",
        ));
    }
    header_value("basic.username", username)?;
    header_value("basic.password", password)?;
    let secret = Secret::Basic {
        username: username.to_string(),
        password: password.to_string(),
    };
    Ok((Kind::Basic, secret))
}

fn header_name(header: &str) -> Result<(), ApiError> {
    let parsed = http::HeaderName::from_bytes(header.as_bytes()).map_err(|_| {
        invalid(format!(
            "api_key.header `{header}` is not an HTTP header name"
        ))
    })?;
    if RESERVED_HEADERS.contains(&parsed.as_str()) {
        return Err(invalid(format!(
            "api_key.header `{header}` is set by the caller itself; choose another header"
        )));
    }
    Ok(())
}

fn header_value(field: &str, value: &str) -> Result<(), ApiError> {
    if value.is_empty() || value.len() > MAX_SECRET_VALUE_BYTES {
        return Err(invalid(format!(
            "{field} must have 1 to {MAX_SECRET_VALUE_BYTES} bytes"
        )));
    }
    if http::HeaderValue::from_str(value).is_err() {
        return Err(invalid(format!(
            "{field} holds a character an HTTP header cannot carry (a line break or a control character)"
        )));
    }
    Ok(())
}

/// The certificate chain and key of a client-certificate connection, as
/// the TLS client presents them; an error says what is wrong.
pub fn client_identity(
    cert_pem: &str,
    key_pem: &str,
) -> Result<
    (
        Vec<rustls::pki_types::CertificateDer<'static>>,
        rustls::pki_types::PrivateKeyDer<'static>,
    ),
    String,
> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("client_cert.cert_pem: {e}"))?;
    if chain.is_empty() {
        return Err("client_cert.cert_pem holds no certificate".into());
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .map_err(|e| format!("client_cert.key_pem: {e}"))?;
    let provider = rustls::crypto::ring::default_provider();
    provider
        .key_provider
        .load_private_key(key.clone_key())
        .map_err(|e| format!("client_cert.key_pem: {e}"))?;
    Ok((chain, key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use raftflow_proto::v1::{ApiKeyAuth, BasicAuth};

    fn save(credentials: Credentials) -> SaveConnectionRequest {
        SaveConnectionRequest {
            name: "pay".into(),
            description: String::new(),
            credentials: Some(credentials),
        }
    }

    #[test]
    fn bad_credentials_are_named_without_their_value() {
        let key = |header: &str, value: &str| {
            let auth = ApiKeyAuth {
                header: header.into(),
                value: value.into(),
            };
            checked(&save(Credentials::ApiKey(auth))).map(|_| ())
        };
        let error = |r: Result<(), ApiError>| r.unwrap_err().to_string();
        assert!(key("X-Api-Key", "k1").is_ok());
        assert!(error(key("X-Raftflow-Task-Token", "k1")).contains("set by the caller itself"));
        assert!(error(key("Bad Header", "k1")).contains("not an HTTP header name"));
        let line_break = error(key("X-Api-Key", "k1\r\nX-Evil: 1"));
        assert!(
            line_break.contains("line break") && !line_break.contains("Evil"),
            "{line_break}"
        );
        let colon = BasicAuth {
            username: "a:b".into(),
            password: "p".into(),
        };
        let colon = error(checked(&save(Credentials::Basic(colon))).map(|_| ()));
        assert!(colon.contains("no `:`"), "{colon}");
        let none = SaveConnectionRequest {
            credentials: None,
            ..save(Credentials::ApiKey(ApiKeyAuth::default()))
        };
        assert!(error(checked(&none).map(|_| ())).contains("no credentials"));
        let cert = client_identity("not pem", "not pem").unwrap_err();
        assert!(cert.contains("client_cert.cert_pem"), "{cert}");
    }
}
