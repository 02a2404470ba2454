//! A TLS front for a PostgreSQL server, presenting a certificate made in the test: it answers a client's
//! `SSLRequest` with `S`, completes the TLS handshake, and relays the decrypted protocol to the real server over
//! a plain connection. So `sslmode=verify-full` can be tried against a real PostgreSQL and a certificate whose
//! names and issuer the test chose.

use std::net::SocketAddr;
use std::sync::Arc;

use rustls::ServerConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

/// The 8 bytes of a client's `SSLRequest`: length 8, code 80877103.
const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];

/// A listening front; stops when dropped.
pub struct PostgresTlsFront {
    /// Where clients connect.
    pub addr: SocketAddr,
    accepting: JoinHandle<()>,
}

impl PostgresTlsFront {
    /// Listens on a free loopback port, relaying each connection to `upstream` over TLS made with `config`.
    pub async fn start(config: Arc<ServerConfig>, upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the front");
        let addr = listener.local_addr().expect("front address");
        let acceptor = TlsAcceptor::from(config);
        let accepting = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(relay(socket, acceptor.clone(), upstream));
            }
        });
        Self { addr, accepting }
    }
}

impl Drop for PostgresTlsFront {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

/// One client: its `SSLRequest` answered, TLS, then its bytes to and from `upstream`. A client that fails the
/// handshake (it refused the certificate) is simply dropped.
async fn relay(mut socket: TcpStream, acceptor: TlsAcceptor, upstream: SocketAddr) {
    let mut request = [0u8; 8];
    if socket.read_exact(&mut request).await.is_err() || request != SSL_REQUEST {
        return;
    }
    if socket.write_all(b"S").await.is_err() {
        return;
    }
    let Ok(mut tls) = acceptor.accept(socket).await else { return };
    let Ok(mut server) = TcpStream::connect(upstream).await else { return };
    let _ = tokio::io::copy_bidirectional(&mut tls, &mut server).await;
}
