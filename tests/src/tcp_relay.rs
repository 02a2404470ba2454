//! A TCP relay on loopback in front of a real server (PostgreSQL, say) that the test can cut and restore: cut,
//! every relayed connection is dropped and new ones are closed as soon as they are accepted, as when the server
//! has gone away; restored, connections are relayed again.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A running relay; it stops when dropped.
pub struct TcpRelay {
    /// Where it listens.
    pub addr: SocketAddr,
    cut: Arc<AtomicBool>,
    cuts: watch::Sender<u64>,
    accept_loop: JoinHandle<()>,
}

impl TcpRelay {
    /// Relays `127.0.0.1:0` to `target`.
    pub async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the relay");
        let addr = listener.local_addr().expect("relay address");
        let cut = Arc::new(AtomicBool::new(false));
        let (cuts, _) = watch::channel(0);
        let accept_loop = tokio::spawn(accept_loop(listener, target, cut.clone(), cuts.clone()));
        Self { addr, cut, cuts, accept_loop }
    }

    /// Drops every relayed connection and refuses new ones until [`TcpRelay::restore`].
    pub fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        self.cuts.send_modify(|count| *count += 1);
    }

    /// Relays new connections again.
    pub fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

impl Drop for TcpRelay {
    fn drop(&mut self) {
        self.accept_loop.abort();
        self.cuts.send_modify(|count| *count += 1);
    }
}

async fn accept_loop(listener: TcpListener, target: SocketAddr, cut: Arc<AtomicBool>, cuts: watch::Sender<u64>) {
    loop {
        let Ok((mut client, _)) = listener.accept().await else { continue };
        if cut.load(Ordering::SeqCst) {
            continue; // dropped: closed at once
        }
        let mut cut_off = cuts.subscribe();
        tokio::spawn(async move {
            let Ok(mut server) = TcpStream::connect(target).await else { return };
            tokio::select! {
                _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                _ = cut_off.changed() => {}
            }
        });
    }
}
