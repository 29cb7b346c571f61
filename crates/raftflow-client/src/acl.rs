//! Tokens: bootstrap, create, list, revoke, rotate, who am I.

use raftflow_proto::v1::acl_service_client::AclServiceClient;
use raftflow_proto::v1::{
    BootstrapRequest, CreateTokenRequest, ListTokensRequest, RevokeTokenRequest, Role,
    RotateTokenRequest, TokenInfo, TokenSecret, WhoAmIRequest,
};

use crate::{Client, ClientError};

impl Client {
    /// Turns the ACL system on; the reply holds the first admin token's
    /// secret. Not retried after an unknown outcome: a second try would be
    /// refused, and the first one's secret would be lost with its reply.
    pub async fn acl_bootstrap(&self) -> Result<TokenSecret, ClientError> {
        self.on_leader(false, |ch| async move {
            AclServiceClient::new(ch)
                .bootstrap(BootstrapRequest {})
                .await
                .map(|r| r.into_inner())
        })
        .await
    }

    /// A new token. Not retried after an unknown outcome (the name may then
    /// be taken by a token whose secret was lost: revoke it and retry).
    pub async fn create_token(
        &self,
        name: &str,
        role: Role,
        scopes: &[String],
        ttl_s: u64,
    ) -> Result<TokenSecret, ClientError> {
        let request = CreateTokenRequest {
            name: name.into(),
            role: role as i32,
            scopes: scopes.to_vec(),
            ttl_s,
        };
        self.on_leader(false, |ch| {
            let request = request.clone();
            async move {
                AclServiceClient::new(ch)
                    .create_token(request)
                    .await
                    .map(|r| r.into_inner())
            }
        })
        .await
    }

    pub async fn list_tokens(&self) -> Result<Vec<TokenInfo>, ClientError> {
        self.on_leader(true, |ch| async move {
            AclServiceClient::new(ch)
                .list_tokens(ListTokensRequest {})
                .await
                .map(|r| r.into_inner().tokens)
        })
        .await
    }

    /// Revokes the token with this accessor or name.
    pub async fn revoke_token(&self, token: &str) -> Result<(), ClientError> {
        self.on_leader(false, |ch| {
            let token = token.to_string();
            async move {
                AclServiceClient::new(ch)
                    .revoke_token(RevokeTokenRequest { token })
                    .await
                    .map(|_| ())
            }
        })
        .await
    }

    /// A new secret for the token with this accessor or name.
    pub async fn rotate_token(&self, token: &str) -> Result<TokenSecret, ClientError> {
        self.on_leader(false, |ch| {
            let token = token.to_string();
            async move {
                AclServiceClient::new(ch)
                    .rotate_token(RotateTokenRequest { token })
                    .await
                    .map(|r| r.into_inner())
            }
        })
        .await
    }

    /// The token this client sends.
    pub async fn who_am_i(&self) -> Result<TokenInfo, ClientError> {
        self.on_leader(true, |ch| async move {
            AclServiceClient::new(ch)
                .who_am_i(WhoAmIRequest {})
                .await
                .map(|r| r.into_inner())
        })
        .await
    }
}
