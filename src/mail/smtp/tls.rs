//! TLS for SMTP. STARTTLS uses lettre's own upgrade; implicit TLS (smtps)
//! wraps our own `TCP_NODELAY` socket with rustls before the greeting.

use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use lettre::transport::smtp::client::{AsyncTokioStream, Certificate, TlsParameters};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// Reads a PEM file of extra trusted certificate authorities.
fn extra_roots(ca_file: Option<&Path>) -> Result<Vec<Vec<u8>>, String> {
    let Some(path) = ca_file else {
        return Ok(Vec::new());
    };
    let pem = std::fs::read(path).map_err(|e| format!("smtp-ca-file {}: {e}", path.display()))?;
    rustls_pemfile::certs(&mut pem.as_slice())
        .map(|c| {
            c.map(|c| c.to_vec())
                .map_err(|e| format!("smtp-ca-file {}: {e}", path.display()))
        })
        .collect()
}

/// lettre's TLS parameters for STARTTLS: the system's roots plus `ca_file`.
pub fn starttls_parameters(host: &str, ca_file: Option<&Path>) -> Result<TlsParameters, String> {
    let mut builder = TlsParameters::builder(host.to_string());
    for der in extra_roots(ca_file)? {
        builder =
            builder.add_root_certificate(Certificate::from_der(der).map_err(|e| e.to_string())?);
    }
    builder
        .build_rustls()
        .map_err(|e| format!("TLS setup: {e}"))
}

/// A rustls connector for implicit TLS, trusting the same roots.
pub fn implicit_connector(ca_file: Option<&Path>) -> Result<TlsConnector, String> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    for der in extra_roots(ca_file)? {
        roots
            .add(der.into())
            .map_err(|e| format!("smtp-ca-file: {e}"))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}

/// A TLS stream lettre can speak SMTP over.
#[derive(Debug)]
pub struct TlsTcp(pub TlsStream<TcpStream>);

impl TlsTcp {
    pub async fn connect(connector: &TlsConnector, host: &str, tcp: TcpStream) -> io::Result<Self> {
        let name = ServerName::try_from(host.to_string())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        Ok(Self(connector.connect(name, tcp).await?))
    }
}

impl AsyncRead for TlsTcp {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsTcp {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl AsyncTokioStream for TlsTcp {
    fn peer_addr(&self) -> io::Result<std::net::SocketAddr> {
        self.0.get_ref().0.peer_addr()
    }
}
