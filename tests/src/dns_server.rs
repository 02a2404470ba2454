//! A DNS server on loopback, answering over UDP and TCP on the same port, built on hickory-proto's message
//! encoding. It serves a small zone and has names with fixed misbehaviour:
//!
//! | name | answer |
//! | --- | --- |
//! | in the zone | NOERROR with the records of the asked type (possibly none) |
//! | `servfail.test.` | SERVFAIL |
//! | `silent.test.` | nothing at all (the client times out) |
//! | `truncated.test.` | an empty answer with the TC bit set |
//! | anything else | NXDOMAIN, with the SOA of `test.` in the authority section as an authoritative server sends |

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::SOA;
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
    sources: Arc<Mutex<Vec<IpAddr>>>,
    tasks: Vec<JoinHandle<()>>,
}

impl DnsServer {
    /// Starts serving `zone` on `127.0.0.1`, on one port for UDP and TCP.
    pub async fn start(zone: Zone) -> Self {
        let (udp, tcp) = bind_same_port().await;
        Self::serve(zone, udp, tcp)
    }

    /// Starts serving `zone` on port 53 of the loopback address `ip` (UDP and TCP), where a resolv.conf, which
    /// cannot name a port, can point. Binding port 53 takes root (or `CAP_NET_BIND_SERVICE`).
    pub async fn start_on_port_53(zone: Zone, ip: IpAddr) -> Self {
        let addr = SocketAddr::new(ip, 53);
        let needs = |error: std::io::Error| -> ! {
            panic!("bind {addr}: {error} (port 53 takes root or CAP_NET_BIND_SERVICE)")
        };
        let udp = UdpSocket::bind(addr).await.unwrap_or_else(|error| needs(error));
        let tcp = TcpListener::bind(addr).await.unwrap_or_else(|error| needs(error));
        Self::serve(zone, udp, tcp)
    }

    fn serve(zone: Zone, udp: UdpSocket, tcp: TcpListener) -> Self {
        let addr = udp.local_addr().expect("local addr");
        let zone = Arc::new(zone);
        let (queries, sources) = (Arc::new(AtomicU64::new(0)), Arc::new(Mutex::new(Vec::new())));
        let counted = Counted { queries: queries.clone(), sources: sources.clone() };
        let tasks = vec![
            tokio::spawn(serve_udp(udp, zone.clone(), counted.clone())),
            tokio::spawn(serve_tcp(tcp, zone, counted)),
        ];
        Self { addr, queries, sources, tasks }
    }

    /// Queries received so far over both transports.
    pub fn queries(&self) -> u64 {
        self.queries.load(Ordering::SeqCst)
    }

    /// The address each query came from, in order.
    pub fn sources(&self) -> Vec<IpAddr> {
        self.sources.lock().expect("sources lock").clone()
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

/// What the server counts of each query.
#[derive(Clone)]
struct Counted {
    queries: Arc<AtomicU64>,
    sources: Arc<Mutex<Vec<IpAddr>>>,
}

impl Counted {
    fn query_from(&self, peer: IpAddr) {
        self.queries.fetch_add(1, Ordering::SeqCst);
        self.sources.lock().expect("sources lock").push(peer);
    }
}

async fn serve_udp(socket: UdpSocket, zone: Arc<Zone>, counted: Counted) {
    let mut buffer = vec![0u8; 4096];
    loop {
        let Ok((length, peer)) = socket.recv_from(&mut buffer).await else { continue };
        counted.query_from(peer.ip());
        if let Some(answer) = answer(&zone, &buffer[..length], true) {
            let _ = socket.send_to(&answer, peer).await;
        }
    }
}

async fn serve_tcp(listener: TcpListener, zone: Arc<Zone>, counted: Counted) {
    loop {
        let Ok((mut stream, peer)) = listener.accept().await else { continue };
        let zone = zone.clone();
        let counted = counted.clone();
        tokio::spawn(async move {
            let mut prefix = [0u8; 2];
            while stream.read_exact(&mut prefix).await.is_ok() {
                let mut query = vec![0u8; usize::from(u16::from_be_bytes(prefix))];
                if stream.read_exact(&mut query).await.is_err() {
                    return;
                }
                counted.query_from(peer.ip());
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
            None => {
                response.metadata.response_code = ResponseCode::NXDomain;
                let origin = Name::from_str("test.").expect("valid zone name");
                let soa = SOA::new(
                    Name::from_str("ns.test.").expect("valid name"),
                    Name::from_str("hostmaster.test.").expect("valid name"),
                    2026120101,
                    3600,
                    600,
                    86_400,
                    300,
                );
                response.add_authority(Record::from_rdata(origin, 300, RData::SOA(soa)));
            }
        },
    }
    response.to_vec().ok()
}
