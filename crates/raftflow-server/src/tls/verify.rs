//! Certificate checks beyond "signed by the cluster CA": the Raft port
//! admits node certificates only, and a node calling a peer checks that the
//! peer is the node it meant to call.
//!
//! Both wrap webpki's verifiers (chain, validity, key usage, signatures) and
//! add the identity rule on top; they never weaken what webpki checks.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};

use super::identity::{identity_of, Identity};

/// The handshake-signature checks, left to the wrapped webpki verifier
/// (`self.inner`): only the certificate checks differ.
macro_rules! delegate_signatures {
    () => {
        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            self.inner.verify_tls12_signature(message, cert, dss)
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            self.inner.verify_tls13_signature(message, cert, dss)
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.inner.supported_verify_schemes()
        }
    };
}

/// Admits a client only when its certificate chains to the cluster CA and
/// names a node (`raftflow://node/<id>`). Which node, each RPC checks
/// against the id it claims (raft_service.rs).
#[derive(Debug)]
pub struct NodeClientVerifier {
    pub inner: Arc<dyn ClientCertVerifier>,
}

impl ClientCertVerifier for NodeClientVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)?;
        match identity_of(end_entity) {
            Some(Identity::Node(_)) => Ok(verified),
            Some(other) => Err(rustls::Error::General(format!(
                "the Raft port admits node certificates only; this one is for {other}"
            ))),
            None => Err(rustls::Error::General(
                "the Raft port admits node certificates only; this one names no raftflow://node/<id>"
                    .into(),
            )),
        }
    }

    delegate_signatures!();
}

/// Accepts a peer's server certificate only when webpki accepts it for the
/// address dialled and it is node `expected`'s: a stale address book, or a
/// node that took over another's address, must not receive its entries.
#[derive(Debug)]
pub struct PeerServerVerifier {
    pub inner: Arc<dyn ServerCertVerifier>,
    pub expected: u64,
}

impl ServerCertVerifier for PeerServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verified = self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )?;
        match identity_of(end_entity) {
            Some(Identity::Node(id)) if id == self.expected => Ok(verified),
            Some(other) => Err(rustls::Error::General(format!(
                "expected node {}'s certificate at {}, got {other}'s",
                self.expected,
                server_name.to_str()
            ))),
            None => Err(rustls::Error::General(format!(
                "expected node {}'s certificate at {}, got one that names no raftflow://node/<id>",
                self.expected,
                server_name.to_str()
            ))),
        }
    }

    delegate_signatures!();
}

/// Trusts exactly one certificate: this node's own `[tls.http]` one, for
/// `raftflow health` asking its own HTTP port (health.rs). The handshake
/// still proves the port holds that certificate's key.
#[derive(Debug)]
pub struct PinnedServerVerifier {
    pub(crate) inner: Arc<rustls::client::WebPkiServerVerifier>,
    pub(crate) pinned: CertificateDer<'static>,
}

impl ServerCertVerifier for PinnedServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.pinned.as_ref() {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(
                "the HTTP port shows another certificate than [tls.http] cert_file".into(),
            ))
        }
    }

    delegate_signatures!();
}
