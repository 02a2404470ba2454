//! A DNS server on loopback, answering over UDP and TCP on the same port, built on hickory-proto's message
//! encoding. It serves a small zone and has names with fixed misbehaviour:
//!
//! | name | answer |
//! | --- | --- |
//! | in the zone | NOERROR with the records of the asked type (possibly none) |
//! | `servfail.test.` | SERVFAIL |
//! | `silent.test.` | nothing at all (the client times out) |
//! | `truncated.test.` | an empty answer with the TC bit set |
//! | anything else | NXDOMAIN |

use std::collections::HashMap;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::task::JoinHandle;

/// Records served, by owner name.
#[derive(Debug, Default, Clone)]
pub struct Zone {
    records: HashMap<Name, Vec<Record>>,
}

impl Zone {
    /// An empty zone.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a record with TTL 300.
    pub fn with(mut self, name: &str, data: RData) -> Self {
        let name = Name::from_str(name).expect("valid owner name");
        self.records.entry(name.clone()).or_default().push(Record::from_rdata(name, 300, data));
        self
    }
}

/// A running DNS server; it stops when dropped.
pub struct DnsServer {
    /// UDP and TCP address (the same port for both).
    pub addr: SocketAddr,
    queries: Arc<AtomicU64>,
    tasks: Vec<JoinHandle<()>>,
}

impl DnsServer {
    /// Starts serving `zone` on `127.0.0.1`, on one port for UDP and TCP.
    pub async fn start(zone: Zone) -> Self {
        let (udp, tcp) = bind_same_port().await;
        let addr = udp.local_addr().expect("local addr");
        let zone = Arc::new(zone);
        let queries = Arc::new(AtomicU64::new(0));
        let tasks = vec![
            tokio::spawn(serve_udp(udp, zone.clone(), queries.clone())),
            tokio::spawn(serve_tcp(tcp, zone, queries.clone())),
        ];
        Self { addr, queries, tasks }
    }

    /// Queries received so far over both transports.
    pub fn queries(&self) -> u64 {
        self.queries.load(Ordering::SeqCst)
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Binds UDP on an ephemeral port, then TCP on the same port; tries again if that TCP port is taken.
async fn bind_same_port() -> (UdpSocket, TcpListener) {
    for _ in 0..20 {
        let udp = UdpSocket::bind("127.0.0.1:0").await.expect("bind UDP");
        let addr = udp.local_addr().expect("local addr");
        if let Ok(tcp) = TcpListener::bind(addr).await {
            return (udp, tcp);
        }
    }
    panic!("no loopback port free for both UDP and TCP");
}

async fn serve_udp(socket: UdpSocket, zone: Arc<Zone>, queries: Arc<AtomicU64>) {
    let mut buffer = vec![0u8; 4096];
    loop {
        let Ok((length, peer)) = socket.recv_from(&mut buffer).await else { continue };
        queries.fetch_add(1, Ordering::SeqCst);
        if let Some(answer) = answer(&zone, &buffer[..length], true) {
            let _ = socket.send_to(&answer, peer).await;
        }
    }
}

async fn serve_tcp(listener: TcpListener, zone: Arc<Zone>, queries: Arc<AtomicU64>) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else { continue };
        let zone = zone.clone();
        let queries = queries.clone();
        tokio::spawn(async move {
            let mut prefix = [0u8; 2];
            while stream.read_exact(&mut prefix).await.is_ok() {
                let mut query = vec![0u8; usize::from(u16::from_be_bytes(prefix))];
                if stream.read_exact(&mut query).await.is_err() {
                    return;
                }
                queries.fetch_add(1, Ordering::SeqCst);
                let Some(answer) = answer(&zone, &query, false) else { return };
                let length = u16::try_from(answer.len()).expect("answer fits TCP framing").to_be_bytes();
                if stream.write_all(&length).await.is_err() || stream.write_all(&answer).await.is_err() {
                    return;
                }
            }
        });
    }
}

fn answer(zone: &Zone, query: &[u8], udp: bool) -> Option<Vec<u8>> {
    let request = Message::from_vec(query).ok()?;
    let question = request.queries.first()?.clone();
    let name = question.name().to_ascii().to_ascii_lowercase();
    let mut response = Message::new(request.metadata.id, MessageType::Response, request.metadata.op_code);
    response.metadata.recursion_desired = request.metadata.recursion_desired;
    response.metadata.recursion_available = true;
    response.add_query(question.clone());
    match name.as_str() {
        "silent.test." => return None,
        "servfail.test." => response.metadata.response_code = ResponseCode::ServFail,
        "truncated.test." => response.metadata.truncation = udp,
        _ => match zone.records.get(question.name()) {
            Some(records) => {
                let wanted = question.query_type();
                response.add_answers(
                    records
                        .iter()
                        .filter(|record| wanted == RecordType::ANY || record.record_type() == wanted)
                        .cloned(),
                );
            }
            None => response.metadata.response_code = ResponseCode::NXDomain,
        },
    }
    response.to_vec().ok()
}
