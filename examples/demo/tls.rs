//! HTTPS and WSS for the demo (`--features tls`): a certificate from PEM
//! files, or one made at start for `localhost` and `127.0.0.1`.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::ServerConfig;

use crate::options::Certificate;

/// The server's TLS configuration; the error is for the user.
pub fn server_config(certificate: &Certificate) -> Result<Arc<ServerConfig>, String> {
    let (chain, key) = match certificate {
        Certificate::Files { cert, key } => {
            let chain = CertificateDer::pem_file_iter(cert)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|err| format!("--tls-cert {cert}: {err}"))?;
            if chain.is_empty() {
                return Err(format!("--tls-cert {cert}: no certificate in it"));
            }
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|err| format!("--tls-key {key}: {err}"))?;
            (chain, key)
        }
        Certificate::SelfSigned => {
            let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
            let made = rcgen::generate_simple_self_signed(names)
                .map_err(|err| format!("--tls-self-signed: {err}"))?;
            let key = PrivatePkcs8KeyDer::from(made.key_pair.serialize_der());
            (vec![made.cert.der().clone()], key.into())
        }
    };
    let config = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|err| format!("the certificate and key do not go together: {err}"))?;
    Ok(Arc::new(config))
}
