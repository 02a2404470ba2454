//! An HTTP proxy on loopback: `CONNECT host:port` tunnels (for HTTPS targets) and absolute-form requests
//! forwarded as they are (for plain HTTP). It counts what it handled, so tests can tell traffic went through it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt, copy_bidirectional};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A running proxy; it stops when dropped.
pub struct Proxy {
    /// Where it listens.
    pub addr: SocketAddr,
    handled: Arc<AtomicU64>,
    accept_loop: JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept_loop.abort();
    }
}

impl Proxy {
    /// Starts the proxy on `127.0.0.1:0`.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("local addr");
        let handled = Arc::new(AtomicU64::new(0));
        let counter = handled.clone();
        let accept_loop = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else { continue };
                let counter = counter.clone();
                tokio::spawn(relay(client, counter));
            }
        });
        Self { addr, handled, accept_loop }
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Connections relayed (upstream reached) so far.
    pub fn handled(&self) -> u64 {
        self.handled.load(Ordering::SeqCst)
    }
}

async fn relay(mut client: TcpStream, handled: Arc<AtomicU64>) -> Option<()> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if client.read(&mut byte).await.ok()? == 0 || head.len() > 16 * 1024 {
            return None;
        }
        head.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut words = text.split_whitespace();
    let method = words.next()?;
    let target = words.next()?;
    let (authority, forward_head) = if method == "CONNECT" {
        (target.to_owned(), None)
    } else {
        let rest = target.strip_prefix("http://")?;
        (rest.split('/').next()?.to_owned(), Some(head))
    };
    let mut upstream = TcpStream::connect(authority).await.ok()?;
    handled.fetch_add(1, Ordering::SeqCst);
    match forward_head {
        Some(head) => upstream.write_all(&head).await.ok()?,
        None => client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n").await.ok()?,
    }
    copy_bidirectional(&mut client, &mut upstream).await.ok()?;
    Some(())
}
