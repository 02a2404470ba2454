//! Preparing the `tls`, `grpc` and `icmp` kinds: `host:port` or host targets, TLS configurations, metadata and
//! the echo schedule, each problem with its path.

use std::time::Duration;

use rustls::ProtocolVersion;
use rustls::pki_types::ServerName;

use super::{Preparer, Problems, client_identity, header_map, split_host_port};
use crate::check::Check;
use crate::spec::{GrpcSpec, IcmpSpec, TlsCheckSpec};
use crate::tls::{Alpn, TlsOptions, trust_roots};

/// Most echo requests in one attempt.
const MAX_ECHOES: u16 = 100;
/// Largest payload: a 1500-byte path carries it unfragmented over IPv6 (40-byte header, 8-byte ICMP header).
const MAX_PAYLOAD: u16 = 1452;
/// Shortest time between echo requests.
const MIN_ECHO_INTERVAL: Duration = Duration::from_millis(10);

impl Preparer {
    pub(super) fn prepare_tls(&mut self, check: &Check, problems: &mut Problems<'_>) -> Option<TlsCheckSpec> {
        let settings = check.tls.as_deref().cloned().unwrap_or_default();
        let target = host_port(check, problems);
        let name_written =
            settings.server_name.clone().or_else(|| target.as_ref().map(|(host, _)| host.clone())).unwrap_or_default();
        let server_name = ServerName::try_from(name_written.clone())
            .map_err(|_| problems.add("tls.server_name", format!("{name_written:?} is not a DNS name or IP address")))
            .ok();
        let min_version = match settings.expect.min_version.as_deref() {
            None => Some(None),
            Some("1.2") => Some(Some(ProtocolVersion::TLSv1_2)),
            Some("1.3") => Some(Some(ProtocolVersion::TLSv1_3)),
            Some(other) => {
                problems.add("tls.expect.min_version", format!("{other:?} is not \"1.2\" or \"1.3\""));
                None
            }
        };
        let identity = client_identity(settings.client_cert.as_ref(), settings.client_key.as_ref(), "tls", problems);
        // The handshake completes whatever the chain (it is judged afterwards, against `roots`).
        let options = TlsOptions { verify: false, ca_file: None, client_identity: identity, alpn: Alpn::None };
        let tls = self.tls_config(options).map_err(|error| problems.add("tls", error)).ok();
        let roots = trust_roots(settings.ca_file.as_deref()).map_err(|error| problems.add("tls.ca_file", error)).ok();
        let (host, port) = target?;
        Some(TlsCheckSpec {
            host,
            port,
            ip_version: settings.ip_version,
            server_name: server_name?,
            tls: tls?,
            roots: roots?,
            cert_min_days: settings.expect.cert_min_days,
            min_version: min_version?,
            chain_valid: settings.expect.chain_valid,
            hostname_match: settings.expect.hostname_match,
            ocsp_stapled: settings.expect.ocsp_stapled,
        })
    }

    pub(super) fn prepare_grpc(&mut self, check: &Check, problems: &mut Problems<'_>) -> Option<GrpcSpec> {
        let settings = check.grpc.as_deref().cloned().unwrap_or_default();
        let target = host_port(check, problems);
        let metadata = header_map(&settings.metadata, "grpc.metadata", problems);
        let identity = client_identity(settings.client_cert.as_ref(), settings.client_key.as_ref(), "grpc", problems);
        let tls = if settings.tls {
            let options = TlsOptions {
                verify: settings.tls_verify,
                ca_file: settings.ca_file.clone(),
                client_identity: identity,
                alpn: Alpn::H2,
            };
            self.tls_config(options).map(Some).map_err(|error| problems.add("grpc", error)).ok()
        } else {
            if identity.is_some() || settings.ca_file.is_some() {
                problems.add("grpc.tls", "must be true for ca_file, client_cert and client_key to apply");
            }
            Some(None)
        };
        let (host, port) = target?;
        Some(GrpcSpec {
            host,
            port,
            ip_version: settings.ip_version,
            tls: tls?,
            service: settings.service,
            metadata: metadata?,
        })
    }
}

/// Validates an ICMP check: a host (name or IP literal) and an echo schedule that fits in the attempt's timeout.
pub(super) fn prepare_icmp(check: &Check, problems: &mut Problems<'_>) -> Option<IcmpSpec> {
    let settings = check.icmp.as_deref().cloned().unwrap_or_default();
    let host = check.target.trim_start_matches('[').trim_end_matches(']');
    let host_valid = host.parse::<std::net::IpAddr>().is_ok()
        || (!host.is_empty() && ServerName::try_from(host.to_owned()).is_ok() && !host.contains(':'));
    if !host_valid {
        problems.add("target", format!("{:?} is not a host name or IP address", check.target));
    }
    if !(1..=MAX_ECHOES).contains(&settings.count) {
        problems.add("icmp.count", format!("{} is not from 1 to {MAX_ECHOES}", settings.count));
    }
    if settings.interval < MIN_ECHO_INTERVAL {
        problems.add(
            "icmp.interval",
            format!("{} is below the minimum of 10ms", humantime::format_duration(settings.interval)),
        );
    }
    if settings.payload_size > MAX_PAYLOAD {
        problems.add("icmp.payload_size", format!("{} is above the maximum of {MAX_PAYLOAD}", settings.payload_size));
    }
    let timeout = check.timeout.unwrap_or_else(|| (check.interval / 2).min(Duration::from_secs(10)));
    let sending = settings.interval * u32::from(settings.count.saturating_sub(1));
    if sending >= timeout {
        problems.add(
            "icmp.interval",
            format!(
                "{} requests {} apart take {}, which leaves no time for replies within the timeout ({})",
                settings.count,
                humantime::format_duration(settings.interval),
                humantime::format_duration(sending),
                humantime::format_duration(timeout)
            ),
        );
    }
    let max_loss_percent = match settings.expect.max_loss.as_deref() {
        None => Some(None),
        Some(text) => match parse_percent(text) {
            Some(percent) => Some(Some(percent)),
            None => {
                problems.add("icmp.expect.max_loss", format!("{text:?} is not a percentage from 0% to 100% (\"20%\")"));
                None
            }
        },
    };
    if settings.expect.max_rtt.is_some_and(|rtt| rtt.is_zero()) {
        problems.add("icmp.expect.max_rtt", "must be above 0");
    }
    Some(IcmpSpec {
        host: host.to_owned(),
        ip_version: settings.ip_version,
        count: settings.count,
        interval: settings.interval,
        payload_size: settings.payload_size,
        max_loss_percent: max_loss_percent?,
        max_rtt: settings.expect.max_rtt,
    })
}

fn host_port(check: &Check, problems: &mut Problems<'_>) -> Option<(String, u16)> {
    split_host_port(&check.target).map_err(|error| problems.add("target", format!("{:?} {error}", check.target))).ok()
}

/// `"20%"` as 20.0; the sign is required, so that `0.2` cannot be read as either.
fn parse_percent(text: &str) -> Option<f64> {
    let number: f64 = text.trim().strip_suffix('%')?.trim().parse().ok()?;
    (number.is_finite() && (0.0..=100.0).contains(&number)).then_some(number)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_is_a_percentage_with_its_sign() {
        assert_eq!(parse_percent("20%"), Some(20.0));
        assert_eq!(parse_percent(" 0.5 % "), Some(0.5));
        assert_eq!(parse_percent("0.2"), None);
        assert_eq!(parse_percent("120%"), None);
        assert_eq!(parse_percent("NaN%"), None);
    }
}
