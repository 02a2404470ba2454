//! ICMP echo probe (`kind: icmp`): `count` echo requests `interval` apart on a socket of the attempt's own, each
//! waiting for its reply until shortly before the attempt's deadline; the result holds sent, received, loss and
//! the round trips. No reply at all, or more loss than `max_loss`, fails with `packet_loss`; a reply slower than
//! `max_rtt` with `slow`.
//!
//! Sockets: an unprivileged ICMP datagram socket where the kernel allows it (the agent's group within
//! `net.ipv4.ping_group_range`), a raw socket otherwise (needs `CAP_NET_RAW`). [`unavailable`] tells at start
//! when neither can be opened, so that such checks are refused as configuration rather than failing as the
//! vendor's downtime.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use futures_util::future::join_all;
use slaprobe_checks::PreparedCheck;
use slaprobe_checks::check::IpVersion;
use slaprobe_checks::spec::{IcmpSpec, ProbeSpec};
use slaprobe_proto::IcmpDetail;
use socket2::{Domain, Protocol, Socket, Type};
use surge_ping::{Client, Config, ICMP, PingIdentifier, PingSequence, SurgeError};
use tokio::time::Instant;

use super::{Attempt, ErrorKind, Failure, ProbeContext, round_micros};

/// Time kept back before the attempt's deadline, so the probe reports its own count instead of timing out.
const DEADLINE_MARGIN: Duration = Duration::from_millis(20);

/// Runs one ICMP echo check attempt.
pub async fn probe(context: &ProbeContext, spec: &IcmpSpec, attempt: &mut Attempt) -> Result<(), Failure> {
    attempt.icmp = Some(IcmpDetail::default());
    let ip = context.resolve(&spec.host, spec.ip_version, attempt).await?;
    detail(attempt).remote_addr = Some(ip.to_string());
    let mut config = Config::builder().kind(if ip.is_ipv4() { ICMP::V4 } else { ICMP::V6 });
    if let Some(source) = context.source_ip() {
        config = config.bind(SocketAddr::new(source, 0));
    }
    let client = Client::new(&config.build()).map_err(|error| {
        Failure::new(ErrorKind::Connect, format!("connect: cannot open an ICMP socket to ping {ip}: {error}"))
    })?;
    let start = Instant::now();
    let stop_waiting = attempt.deadline.map_or(start + Duration::from_secs(10), |deadline| {
        deadline.checked_sub(DEADLINE_MARGIN).unwrap_or(deadline).max(start)
    });
    attempt.enter(format!("waiting for echo replies from {ip}"));
    let ident = PingIdentifier(rand::random());
    let payload = vec![0x5a_u8; usize::from(spec.payload_size)];
    let echoes = (0..spec.count).map(|seq| {
        let (client, payload) = (&client, &payload);
        async move {
            tokio::time::sleep_until(start + spec.interval * u32::from(seq)).await;
            let mut pinger = client.pinger(ip, ident).await;
            pinger.timeout(stop_waiting.saturating_duration_since(Instant::now()));
            pinger.ping(PingSequence(seq), payload).await.map(|(_, rtt)| rtt)
        }
    });
    let outcomes = join_all(echoes).await;
    judge(spec, ip, &outcomes, detail(attempt))
}

fn detail(attempt: &mut Attempt) -> &mut IcmpDetail {
    attempt.icmp.get_or_insert_default()
}

/// Fills in the counts and round trips, then judges them.
fn judge(
    spec: &IcmpSpec,
    ip: IpAddr,
    outcomes: &[Result<Duration, SurgeError>],
    detail: &mut IcmpDetail,
) -> Result<(), Failure> {
    let rtts: Vec<f64> = outcomes.iter().flatten().map(|rtt| round_micros(rtt.as_secs_f64() * 1000.0)).collect();
    let sent = outcomes.iter().filter(|outcome| !matches!(outcome, Err(error) if is_send_error(error))).count();
    let lost = sent - rtts.len();
    detail.sent = u32::try_from(sent).unwrap_or(u32::MAX);
    detail.received = u32::try_from(rtts.len()).unwrap_or(u32::MAX);
    if sent == 0 {
        let cause = outcomes.iter().find_map(|outcome| outcome.as_ref().err()).map(ToString::to_string);
        return Err(Failure::new(
            ErrorKind::Connect,
            format!("connect: cannot send echo requests to {ip}: {}", cause.unwrap_or_default()),
        ));
    }
    let loss = round_micros(100.0 * lost as f64 / sent as f64);
    detail.loss_percent = Some(loss);
    if !rtts.is_empty() {
        detail.rtt_min_ms = rtts.iter().copied().reduce(f64::min);
        detail.rtt_max_ms = rtts.iter().copied().reduce(f64::max);
        detail.rtt_avg_ms = Some(round_micros(rtts.iter().sum::<f64>() / rtts.len() as f64));
    }
    if rtts.is_empty() {
        return Err(Failure::new(
            ErrorKind::PacketLoss,
            format!("packet_loss: no reply to {sent} echo requests to {ip}"),
        ));
    }
    if let Some(max_loss) = spec.max_loss_percent.filter(|max_loss| loss > *max_loss) {
        return Err(Failure::new(
            ErrorKind::PacketLoss,
            format!(
                "packet_loss: {lost} of {sent} echo requests to {ip} unanswered ({loss}%), above max_loss {max_loss}%"
            ),
        ));
    }
    let slowest = detail.rtt_max_ms.unwrap_or_default();
    if let Some(max_rtt) = spec.max_rtt.filter(|max_rtt| slowest > max_rtt.as_secs_f64() * 1000.0) {
        return Err(Failure::new(
            ErrorKind::Slow,
            format!(
                "slow: the slowest echo reply took {slowest} ms, above max_rtt {}",
                humantime::format_duration(max_rtt)
            ),
        ));
    }
    Ok(())
}

/// Whether the request never left (the socket refused to send it), as opposed to going unanswered.
fn is_send_error(error: &SurgeError) -> bool {
    !matches!(error, SurgeError::Timeout { .. })
}

/// Why this process cannot run `checks`' ICMP checks, if it cannot: each such check's position in `checks` with
/// what to change.
pub fn unavailable<'a>(checks: impl IntoIterator<Item = &'a PreparedCheck>) -> Vec<(usize, String)> {
    let mut problems = Vec::new();
    let (mut v4, mut v6) = (None, None);
    for (index, check) in checks.into_iter().enumerate() {
        let ProbeSpec::Icmp(spec) = &check.spec else { continue };
        let wants_v6 = spec.ip_version == IpVersion::V6 || spec.host.parse::<std::net::Ipv6Addr>().is_ok();
        let verdict = if wants_v6 {
            v6.get_or_insert_with(|| socket_problem(Domain::IPV6, Protocol::ICMPV6))
        } else {
            v4.get_or_insert_with(|| socket_problem(Domain::IPV4, Protocol::ICMPV4))
        };
        if let Some(problem) = verdict {
            problems.push((index, problem.clone()));
        }
    }
    problems
}

/// `None` when an ICMP datagram or raw socket of `domain` opens; otherwise what to change.
fn socket_problem(domain: Domain, protocol: Protocol) -> Option<String> {
    let datagram = Socket::new(domain, Type::DGRAM, Some(protocol)).err()?;
    let raw = Socket::new(domain, Type::RAW, Some(protocol)).err()?;
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ping_group_range")
        .map(|text| text.split_whitespace().collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unreadable".to_owned());
    Some(format!(
        "icmp checks cannot open a socket (datagram: {datagram}; raw: {raw}): allow the agent's group in the sysctl \
         net.ipv4.ping_group_range (now \"{range}\"), or give the agent CAP_NET_RAW"
    ))
}
