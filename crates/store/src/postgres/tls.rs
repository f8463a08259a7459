//! How a PostgreSQL URL becomes a connection's settings, TLS included.
//!
//! The URL is libpq's: `sslmode` and `sslrootcert` are read here (the client library knows
//! neither `verify-full` nor `sslrootcert`) and the rest handed on. `sslmode=require`,
//! `verify-ca` and `verify-full` encrypt the connection and check the server's certificate and
//! name against Mozilla's roots and the CA file of `sslrootcert`, if given: stricter than
//! libpq's `require`, which checks nothing. Without `sslmode`, or with `disable`, `allow` or
//! `prefer`, the connection is plain, as paperscout has no way to tell a server's self-signed
//! certificate from an attacker's.

use std::path::PathBuf;
use std::sync::Arc;

use postgres::Config;
use postgres::config::SslMode;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::error::{Result, StoreError};

/// A connection's settings and the TLS it makes connections with.
#[derive(Clone)]
pub(super) struct Connector {
    pub(super) config: Config,
    pub(super) tls: MakeRustlsConnect,
}

impl Connector {
    /// Opens a new connection.
    pub(super) fn connect(&self) -> std::result::Result<postgres::Client, postgres::Error> {
        self.config.connect(self.tls.clone())
    }
}

/// The settings of `url` (shown as `place` in errors).
pub(super) fn connector(url: &str, place: &str) -> Result<Connector> {
    let bad = |detail: String| StoreError::BadUrl {
        url: place.to_owned(),
        detail,
    };
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, query),
        None => (url, ""),
    };
    let mut kept = Vec::new();
    let mut mode = None;
    let mut root: Option<PathBuf> = None;
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        match pair.split_once('=') {
            Some(("sslmode", value)) => mode = Some(value.to_owned()),
            Some(("sslrootcert", value)) => root = Some(PathBuf::from(percent_decoded(value))),
            _ => kept.push(pair),
        }
    }
    let url = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    let mut config: Config = url
        .parse()
        .map_err(|err: postgres::Error| bad(err.to_string()))?;
    let encrypted = match mode.as_deref() {
        None | Some("disable" | "allow" | "prefer") => false,
        Some("require" | "verify-ca" | "verify-full") => true,
        Some(other) => {
            return Err(bad(format!(
                "sslmode={other} is not one of disable, allow, prefer, require, verify-ca, \
                 verify-full"
            )));
        }
    };
    config.ssl_mode(if encrypted {
        SslMode::Require
    } else {
        SslMode::Disable
    });
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(file) = &root {
        let certificates = CertificateDer::pem_file_iter(file).map_err(|err| {
            bad(format!(
                "sslrootcert {} is unreadable: {err}",
                file.display()
            ))
        })?;
        let mut added = 0;
        for certificate in certificates {
            let certificate = certificate
                .map_err(|err| bad(format!("sslrootcert {} is not PEM: {err}", file.display())))?;
            roots.add(certificate).map_err(|err| {
                bad(format!(
                    "sslrootcert {} holds a bad certificate: {err}",
                    file.display()
                ))
            })?;
            added += 1;
        }
        if added == 0 {
            return Err(bad(format!(
                "sslrootcert {} holds no certificate",
                file.display()
            )));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|err| bad(format!("TLS could not be set up: {err}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Connector {
        config,
        tls: MakeRustlsConnect::new(tls),
    })
}

/// `%2F` and the like decoded (a path in a URL's query).
fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        let decoded = (bytes[at] == b'%')
            .then(|| bytes.get(at + 1..at + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match decoded {
            Some(byte) => {
                out.push(byte);
                at += 3;
            }
            None => {
                out.push(bytes[at]);
                at += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libpq_ssl_parameters_are_read_and_the_rest_handed_on() {
        let plain = connector("postgres://ada@db/scout", "p").expect("plain");
        assert_eq!(plain.config.get_ssl_mode(), SslMode::Disable);
        let tls = connector(
            "postgres://ada@db/scout?application_name=x&sslmode=verify-full",
            "p",
        )
        .expect("tls");
        assert_eq!(tls.config.get_ssl_mode(), SslMode::Require);
        assert_eq!(tls.config.get_application_name(), Some("x"));
        let err = connector("postgres://ada@db/scout?sslmode=sometimes", "p")
            .err()
            .expect("a bad mode");
        assert!(err.to_string().contains("verify-full"), "{err}");
        let err = connector(
            "postgres://db/s?sslmode=require&sslrootcert=%2Fnone.pem",
            "p",
        )
        .err()
        .expect("a missing CA file");
        assert!(err.to_string().contains("/none.pem"), "{err}");
    }
}
