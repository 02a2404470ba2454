//! Raw TCP listeners on loopback: one that greets with a banner (optionally over TLS) and one that closes every
//! connection at once, which an HTTP client sees as a dropped connection.

use std::net::SocketAddr;
use std::sync::Arc;

use rustls::ServerConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

/// A running listener; it stops when dropped.
pub struct TcpServer {
    /// Where it listens.
    pub addr: SocketAddr,
    accept_loop: JoinHandle<()>,
}

impl Drop for TcpServer {
    fn drop(&mut self) {
        self.accept_loop.abort();
    }
}

impl TcpServer {
    /// Sends `banner` on every connection, then echoes one read back, then closes.
    pub async fn banner(banner: &'static str) -> Self {
        Self::banner_with(banner, None).await
    }

    /// Like [`TcpServer::banner`], inside TLS.
    pub async fn tls_banner(banner: &'static str, config: Arc<ServerConfig>) -> Self {
        Self::banner_with(banner, Some(TlsAcceptor::from(config))).await
    }

    async fn banner_with(banner: &'static str, tls: Option<TlsAcceptor>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind TCP test server");
        let addr = listener.local_addr().expect("local addr");
        let accept_loop = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let tls = tls.clone();
                tokio::spawn(async move {
                    match tls {
                        Some(acceptor) => {
                            if let Ok(stream) = acceptor.accept(stream).await {
                                greet_and_echo(stream, banner).await;
                            }
                        }
                        None => greet_and_echo(stream, banner).await,
                    }
                });
            }
        });
        Self { addr, accept_loop }
    }

    /// Sends `banner` on every connection and closes it.
    pub async fn banner_then_close(banner: &'static str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind TCP test server");
        let addr = listener.local_addr().expect("local addr");
        let accept_loop = tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else { continue };
                let _ = stream.write_all(banner.as_bytes()).await;
                let _ = stream.shutdown().await;
            }
        });
        Self { addr, accept_loop }
    }

    /// Accepts connections and closes each at once without reading or writing.
    pub async fn closing() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind TCP test server");
        let addr = listener.local_addr().expect("local addr");
        let accept_loop = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                drop(stream);
            }
        });
        Self { addr, accept_loop }
    }
}

async fn greet_and_echo<S: AsyncReadExt + AsyncWriteExt + Unpin>(mut stream: S, banner: &str) {
    if !banner.is_empty() && stream.write_all(banner.as_bytes()).await.is_err() {
        return;
    }
    let mut buffer = [0u8; 1024];
    if let Ok(read) = stream.read(&mut buffer).await
        && read > 0
    {
        let _ = stream.write_all(&buffer[..read]).await;
    }
    let _ = stream.shutdown().await;
}
