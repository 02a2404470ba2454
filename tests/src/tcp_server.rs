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

/// A loopback port with nothing listening, held while the value lives: its socket is bound but never listens, so
/// a connection to it is refused, and no other test (the suite runs them in parallel) can take the port
/// meanwhile and answer in its place. Shown as `127.0.0.1:PORT`.
pub struct ClosedPort {
    _socket: socket2::Socket,
    address: SocketAddr,
}

impl ClosedPort {
    /// `127.0.0.1:PORT`.
    pub fn address(&self) -> SocketAddr {
        self.address
    }
}

impl std::fmt::Display for ClosedPort {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.address.fmt(formatter)
    }
}

/// A loopback port that refuses connections; see [`ClosedPort`].
pub fn closed_port() -> ClosedPort {
    use socket2::{Domain, Socket, Type};
    // socket2 opens sockets close-on-exec: the agents a test starts do not inherit it.
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).expect("a socket");
    socket.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into()).expect("bind a loopback port");
    let address = socket.local_addr().ok().and_then(|address| address.as_socket()).expect("the bound address");
    ClosedPort { _socket: socket, address }
}
