//! TLS for the gateway's own HTTPS requests (callback URLs of async calls, the command line's
//! gateway URL, the Kubernetes API): rustls with the `ring` crypto provider, installed once
//! per process before the first client is built.

use std::sync::Once;

/// Installs the process's crypto provider (idempotent; call before building an HTTPS client).
pub fn install_crypto() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Fails only when another provider was installed first, which then serves as well.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// A `reqwest` client builder, the crypto provider installed.
pub fn client_builder() -> reqwest::ClientBuilder {
    install_crypto();
    reqwest::Client::builder()
}

/// A `reqwest` client with default settings.
///
/// # Panics
/// When the TLS backend cannot be set up, as `reqwest::Client::new` does.
pub fn client() -> reqwest::Client {
    client_builder().build().expect("an HTTP client")
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_https_client_can_be_built_once_installed() {
        super::install_crypto();
        super::install_crypto();
        assert!(rustls::crypto::CryptoProvider::get_default().is_some());
        assert!(super::client_builder().build().is_ok());
    }
}
