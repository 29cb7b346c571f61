//! What a certificate says, for `raftflow cert list` and expiry checks.

use rustls::pki_types::CertificateDer;

/// The fields of a certificate a person checks.
#[derive(Debug, Clone)]
pub struct Summary {
    pub subject: String,
    pub issuer: String,
    pub alt_names: Vec<String>,
    pub is_ca: bool,
    /// Validity bounds, seconds since the Unix epoch.
    pub not_before_s: i64,
    pub not_after_s: i64,
}

/// `None` when the bytes are not an X.509 certificate.
pub fn summarize(der: &CertificateDer<'_>) -> Option<Summary> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let is_ca = cert
        .basic_constraints()
        .ok()
        .flatten()
        .is_some_and(|b| b.value.ca);
    Some(Summary {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        alt_names: super::identity::alt_names(der),
        is_ca,
        not_before_s: cert.validity().not_before.timestamp(),
        not_after_s: cert.validity().not_after.timestamp(),
    })
}
