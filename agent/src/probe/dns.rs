//! DNS probe: one query to one server, over UDP (one datagram each way) or a fresh TCP connection, encoded and
//! decoded with hickory-proto. No resolver logic sits in between (no cache, no retries, no search domains), so
//! the result is exactly what that server answered.
//!
//! `min_answers` counts answer records of the queried type (a CNAME chain in front of them does not count);
//! `answer_regex` must match at least one answer record in presentation form.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use hickory_proto::op::{Message, Query};
use slaprobe_proto::DnsDetail;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UdpSocket;
use tokio::time::Instant;

use super::{Attempt, ErrorKind, Failure, ProbeContext, add_phase};
use slaprobe_checks::check::DnsProtocol;
use slaprobe_checks::spec::{DnsSpec, rcode_name};
use slaprobe_proto::capture::{MAX_AUTHORITY, MAX_LINE, cut};

/// Largest UDP response read.
const MAX_UDP_RESPONSE: usize = 4096;

/// Runs one DNS check attempt.
pub async fn probe(context: &ProbeContext, spec: &DnsSpec, attempt: &mut Attempt) -> Result<(), Failure> {
    let protocol = match spec.protocol {
        DnsProtocol::Udp => "udp",
        DnsProtocol::Tcp => "tcp",
    };
    let server = spec.server.map_or_else(|| context.nameserver(), Ok)?;
    attempt.dns = Some(DnsDetail {
        server: Some(server.to_string()),
        protocol: Some(protocol.to_owned()),
        ..DnsDetail::default()
    });
    let mut query = Message::query();
    query.add_query(Query::query(spec.name.clone(), spec.record_type));
    query.metadata.recursion_desired = true;
    let bytes = query
        .to_vec()
        .map_err(|error| Failure::new(ErrorKind::Dns, format!("dns: cannot encode the query: {error}")))?;
    let raw = match spec.protocol {
        DnsProtocol::Udp => exchange_udp(context, server, &bytes, query.metadata.id, attempt).await?,
        DnsProtocol::Tcp => exchange_tcp(context, server, &bytes, attempt).await?,
    };
    let response = Message::from_vec(&raw)
        .map_err(|error| Failure::new(ErrorKind::Dns, format!("dns: malformed response from {server}: {error}")))?;
    if response.metadata.id != query.metadata.id {
        return Err(Failure::new(ErrorKind::Dns, format!("dns: response from {server} answers another query")));
    }
    let rcode = response.metadata.response_code;
    let answers: Vec<String> = response.answers.iter().map(ToString::to_string).collect();
    let typed_answers = response.answers.iter().filter(|record| record.record_type() == spec.record_type).count();
    if let Some(detail) = attempt.dns.as_mut() {
        detail.rcode = Some(rcode_name(rcode));
        detail.answers = answers.clone();
        detail.authority =
            response.authorities.iter().take(MAX_AUTHORITY).map(|record| cut(&record.to_string(), MAX_LINE)).collect();
    }
    if response.metadata.truncation && spec.protocol == DnsProtocol::Udp {
        return Err(Failure::new(
            ErrorKind::Dns,
            "dns: response truncated over UDP; use `protocol: tcp` for this check",
        ));
    }
    if rcode != spec.rcode {
        return Err(Failure::new(
            ErrorKind::DnsRcode,
            format!(
                "dns_rcode: {} answered {} for {} {}, expected {}",
                server,
                rcode_name(rcode),
                spec.name,
                spec.record_type,
                rcode_name(spec.rcode)
            ),
        ));
    }
    if (typed_answers as u64) < u64::from(spec.min_answers) {
        return Err(Failure::new(
            ErrorKind::Assertion,
            format!(
                "assertion: {typed_answers} {} answers for {}, expected at least {}",
                spec.record_type, spec.name, spec.min_answers
            ),
        ));
    }
    if let Some(regex) = &spec.answer_regex
        && !answers.iter().any(|answer| regex.is_match(answer))
    {
        return Err(Failure::new(ErrorKind::Assertion, format!("assertion: no answer matches /{regex}/")));
    }
    Ok(())
}

fn unspecified_for(server: SocketAddr, source_ip: Option<IpAddr>) -> SocketAddr {
    let ip = source_ip.unwrap_or(if server.is_ipv4() {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    } else {
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    });
    SocketAddr::new(ip, 0)
}

async fn exchange_udp(
    context: &ProbeContext,
    server: SocketAddr,
    query: &[u8],
    id: u16,
    attempt: &mut Attempt,
) -> Result<Vec<u8>, Failure> {
    let failed =
        |error: io::Error| Failure::new(ErrorKind::Dns, format!("dns: query to {server} over UDP failed: {error}"));
    let socket = UdpSocket::bind(unspecified_for(server, context.source_ip())).await.map_err(failed)?;
    socket.connect(server).await.map_err(failed)?;
    attempt.enter(format!("waiting for the answer from {server}"));
    let sent = Instant::now();
    socket.send(query).await.map_err(failed)?;
    let mut buffer = vec![0u8; MAX_UDP_RESPONSE];
    loop {
        let received = socket.recv(&mut buffer).await;
        let length = match received {
            Ok(length) => length,
            Err(error) if error.kind() == io::ErrorKind::ConnectionRefused => {
                add_phase(&mut attempt.phases.ttfb, sent);
                return Err(Failure::new(
                    ErrorKind::Dns,
                    format!("dns: {server} refused the query (port unreachable)"),
                ));
            }
            Err(error) => return Err(failed(error)),
        };
        // A datagram whose id is not ours is a stray or a spoof: keep waiting for the real answer.
        if length >= 2 && u16::from_be_bytes([buffer[0], buffer[1]]) == id {
            add_phase(&mut attempt.phases.ttfb, sent);
            buffer.truncate(length);
            return Ok(buffer);
        }
    }
}

async fn exchange_tcp(
    context: &ProbeContext,
    server: SocketAddr,
    query: &[u8],
    attempt: &mut Attempt,
) -> Result<Vec<u8>, Failure> {
    let mut stream = context.connect(server, attempt).await?;
    let failed =
        |error: io::Error| Failure::new(ErrorKind::Dns, format!("dns: query to {server} over TCP failed: {error}"));
    let length =
        u16::try_from(query.len()).map_err(|_| Failure::new(ErrorKind::Dns, "dns: query too long for TCP framing"))?;
    let mut framed = Vec::with_capacity(query.len() + 2);
    framed.extend_from_slice(&length.to_be_bytes());
    framed.extend_from_slice(query);
    attempt.enter(format!("waiting for the answer from {server}"));
    let sent = Instant::now();
    stream.write_all(&framed).await.map_err(failed)?;
    let mut prefix = [0u8; 2];
    let read = stream.read_exact(&mut prefix).await;
    add_phase(&mut attempt.phases.ttfb, sent);
    read.map_err(|error| match error.kind() {
        io::ErrorKind::UnexpectedEof => {
            Failure::new(ErrorKind::Dns, format!("dns: {server} closed the TCP connection without answering"))
        }
        _ => failed(error),
    })?;
    let mut response = vec![0u8; usize::from(u16::from_be_bytes(prefix))];
    stream.read_exact(&mut response).await.map_err(failed)?;
    Ok(response)
}
