//! Loopback ports for tests: one to give a process that binds it itself, and one that refuses connections.

use std::net::SocketAddr;

/// A loopback address whose port is free now, for a process the test starts to bind (a collector that a test
/// restarts must come back on the same address, so the test picks it rather than the collector). The port is
/// released before the process binds it; the kernel hands ports bound to `:0` out in turn, so another test
/// taking it meanwhile is unlikely but possible.
pub fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|listener| listener.local_addr()).expect("a free loopback port")
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
