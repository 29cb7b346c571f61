//! A connection's credentials put on one HTTP Task request, by the
//! leader's caller: read from the applied state, opened with this node's
//! keys, and set as a header (bearer, basic, API key) or as the TLS
//! client identity (client certificate). A credential header replaces a
//! header of the same name the definition sets.

use std::sync::Arc;

use base64::Engine;
use raftflow_core::eval::Failure;
use raftflow_store::connections::Kind;

use super::seal::{open, Secret};
use crate::node::NodeContext;
use crate::outbound::caller::ClientAuth;

fn runtime(cause: String) -> Failure {
    Failure::new("States.Runtime", cause)
}

/// Reads and opens the connection `name`; a missing connection or a key
/// this node lacks fails the state with `States.Runtime`, naming it.
pub async fn credentials(ctx: &NodeContext, name: &str) -> Result<(Kind, Secret), Failure> {
    let reader = ctx.reader.clone();
    let key = name.to_string();
    let found =
        tokio::task::spawn_blocking(move || raftflow_store::connections::read(reader.db(), &key))
            .await
            .map_err(|e| runtime(e.to_string()))?
            .map_err(|e| runtime(format!("reading connection `{name}`: {e}")))?
            .ok_or_else(|| runtime(format!("connection `{name}` does not exist")))?;
    let def = found.def;
    let secret = open(&ctx.connection_keys.all, &def.name, &def.kind, &def.sealed)
        .map_err(|e| runtime(format!("connection `{name}`: {e}")))?;
    Ok((def.kind, secret))
}

/// Sets the credential on the request's headers, or returns the client
/// identity the TLS handshake presents.
pub fn attach(
    kind: &Kind,
    secret: &Secret,
    headers: &mut Vec<(String, String)>,
) -> Result<Option<Arc<ClientAuth>>, Failure> {
    let mut set = |name: &str, value: String| {
        headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        headers.push((name.to_string(), value));
    };
    match (kind, secret) {
        (Kind::Bearer, Secret::Bearer { token }) => set("Authorization", format!("Bearer {token}")),
        (Kind::Basic, Secret::Basic { username, password }) => {
            let pair =
                base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
            set("Authorization", format!("Basic {pair}"));
        }
        (Kind::ApiKey { header }, Secret::ApiKey { value }) => set(header, value.clone()),
        (Kind::ClientCert, Secret::ClientCert { cert_pem, key_pem }) => {
            let (chain, key) = super::door::client_identity(cert_pem, key_pem).map_err(runtime)?;
            return Ok(Some(Arc::new(ClientAuth { chain, key })));
        }
        _ => {
            return Err(runtime(
                "the connection's secret does not match its kind".into(),
            ))
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_replace_headers_of_the_same_name() {
        let mut headers = vec![
            ("authorization".to_string(), "old".to_string()),
            ("Accept".to_string(), "application/json".to_string()),
        ];
        let basic = Secret::Basic {
            username: "Aladdin".into(),
            password: "open sesame".into(),
        };
        assert!(attach(&Kind::Basic, &basic, &mut headers)
            .unwrap()
            .is_none());
        assert_eq!(
            headers,
            vec![
                ("Accept".to_string(), "application/json".to_string()),
                (
                    "Authorization".to_string(),
                    "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==".to_string()
                ),
            ]
        );
        let key = Kind::ApiKey {
            header: "X-Api-Key".into(),
        };
        let value = Secret::ApiKey { value: "k1".into() };
        attach(&key, &value, &mut headers).unwrap();
        assert!(headers.contains(&("X-Api-Key".to_string(), "k1".to_string())));
        let mismatch = attach(&Kind::Bearer, &value, &mut headers).unwrap_err();
        assert_eq!(mismatch.error, "States.Runtime");
    }
}
