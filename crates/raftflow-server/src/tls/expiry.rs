//! When this node's certificates expire, as a metric: an alert on it fires
//! days before a node stops being able to talk to its peers.

use crate::exposition::{labels, Page};

use rustls::pki_types::CertificateDer;

use super::inspect;

/// One certificate a node uses, with when it expires.
#[derive(Debug, Clone)]
pub struct Expiry {
    /// `node` (the node's own), `ca` (a trusted CA), `http` (the console's).
    pub role: &'static str,
    pub subject: String,
    pub not_after_s: i64,
}

/// The expiries of the first certificate of each `(role, chain)`, and of
/// every trusted CA.
pub fn expiries(
    own: &[(&'static str, &[CertificateDer<'static>])],
    cas: &[CertificateDer<'static>],
) -> Vec<Expiry> {
    let leaves = own
        .iter()
        .filter_map(|(role, chain)| Some((*role, chain.first()?)));
    let roots = cas.iter().map(|ca| ("ca", ca));
    leaves
        .chain(roots)
        .filter_map(|(role, der)| {
            let summary = inspect::summarize(der)?;
            Some(Expiry {
                role,
                subject: summary.subject,
                not_after_s: summary.not_after_s,
            })
        })
        .collect()
}

/// `raftflow_tls_cert_expiry_seconds`, one series per certificate; none
/// on a node without TLS.
pub fn render(security: &super::Security, now_s: i64, page: &mut Page) {
    let expiries = match security {
        super::Security::Tls(tls) => tls.material().expiries().to_vec(),
        super::Security::Insecure => Vec::new(),
    };
    page.gauges(
        "raftflow_tls_cert_expiry_seconds",
        "Seconds until each certificate this node uses expires (negative: expired).",
        expiries.into_iter().map(|e| {
            let labels = labels(&[("cert", e.role), ("subject", &e.subject)]);
            (labels, e.not_after_s - now_s)
        }),
    );
}
