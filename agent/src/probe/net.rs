//! Name resolution and TCP connects for probes, both sent from the agent's `source_ip` when one is set.
//!
//! Resolution uses the agent's resolver configuration (`resolv_conf`, by default `/etc/resolv.conf`) with
//! hickory's cache turned off, so every attempt really asks, as blackbox_exporter does; its first nameserver
//! is also what DNS checks without `dns.server` query. An IP literal needs no lookup and records no `dns`
//! phase. Only the first address is tried: one attempt, no fallback.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{LookupIpStrategy, NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::Instant;

use super::{Attempt, ErrorKind, Failure, add_phase};
use slaprobe_checks::check::IpVersion;

/// `address` as a result shows it (`192.0.2.1:443`, `[2001:db8::1]:443`). An IPv4 address is written digit
/// by digit into a string sized for it once: `to_string` goes through the formatter for each of its five numbers
/// and grows the string on the way, a noticeable share of a plain HTTP probe's CPU.
pub fn address_text(address: SocketAddr) -> String {
    let SocketAddr::V4(v4) = address else { return address.to_string() };
    let mut text = String::with_capacity(21);
    let mut digits = itoa::Buffer::new();
    for (index, octet) in v4.ip().octets().into_iter().enumerate() {
        if index > 0 {
            text.push('.');
        }
        text.push_str(digits.format(octet));
    }
    text.push(':');
    text.push_str(digits.format(v4.port()));
    text
}

/// What every probe shares: the egress address and the resolvers.
#[derive(Clone)]
pub struct ProbeContext {
    source_ip: Option<IpAddr>,
    resolvers: Result<Resolvers, String>,
    nameserver: Result<SocketAddr, String>,
}

#[derive(Clone)]
struct Resolvers {
    any: TokioResolver,
    v4: TokioResolver,
    v6: TokioResolver,
}

impl ProbeContext {
    /// Builds the context from the resolver configuration in `resolv_conf` (resolv.conf syntax). If that cannot
    /// be read, probes of IP literals still work and probes of names fail with a `dns` error that says why.
    pub fn new(source_ip: Option<IpAddr>, resolv_conf: &Path) -> Self {
        let unusable = |error: &dyn std::fmt::Display| {
            format!("dns: the resolver configuration {} is unusable: {error}", resolv_conf.display())
        };
        let config = std::fs::read(resolv_conf)
            .map_err(|error| unusable(&error))
            .and_then(|text| hickory_resolver::system_conf::parse_resolv_conf(text).map_err(|error| unusable(&error)));
        Self::from_config(source_ip, config)
    }

    /// Builds the context with `nameserver` (UDP) as the only resolver, e.g. a DNS server under test.
    pub fn with_nameserver(source_ip: Option<IpAddr>, nameserver: SocketAddr) -> Self {
        let mut server = NameServerConfig::udp(nameserver.ip());
        for connection in &mut server.connections {
            connection.port = nameserver.port();
        }
        Self::from_config(source_ip, Ok((ResolverConfig::from_name_servers(vec![server]), ResolverOpts::default())))
    }

    fn from_config(source_ip: Option<IpAddr>, config: Result<(ResolverConfig, ResolverOpts), String>) -> Self {
        let nameserver = match &config {
            Ok((config, _)) => config
                .name_servers()
                .first()
                .map(|server| {
                    SocketAddr::new(server.ip, server.connections.first().map_or(53, |connection| connection.port))
                })
                .ok_or_else(|| "dns: the resolver configuration names no nameserver".to_owned()),
            Err(error) => Err(error.clone()),
        };
        let resolvers = config.and_then(|(config, options)| {
            let config = bind_name_servers(config, source_ip);
            let build = |strategy| {
                let mut options = options.clone();
                options.cache_size = 0;
                options.ip_strategy = strategy;
                TokioResolver::builder_with_config(config.clone(), TokioRuntimeProvider::default())
                    .with_options(options)
                    .build()
                    .map_err(|error| format!("dns: cannot set up the resolver: {error}"))
            };
            Ok(Resolvers {
                any: build(LookupIpStrategy::Ipv4thenIpv6)?,
                v4: build(LookupIpStrategy::Ipv4Only)?,
                v6: build(LookupIpStrategy::Ipv6Only)?,
            })
        });
        Self { source_ip, resolvers, nameserver }
    }

    /// The nameserver DNS checks without `dns.server` query: the resolver configuration's first.
    pub fn nameserver(&self) -> Result<SocketAddr, Failure> {
        self.nameserver.clone().map_err(|error| Failure::new(ErrorKind::Dns, error))
    }

    /// The local address probes are sent from, if pinned.
    pub fn source_ip(&self) -> Option<IpAddr> {
        self.source_ip
    }

    /// Resolves `host` (an IP literal is returned as is) and records the `dns` phase.
    pub async fn resolve(&self, host: &str, version: IpVersion, attempt: &mut Attempt) -> Result<IpAddr, Failure> {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = bare.parse::<IpAddr>() {
            return check_family(ip, version, host);
        }
        let resolvers = self.resolvers.as_ref().map_err(|error| Failure::new(ErrorKind::Dns, error.clone()))?;
        let resolver = match version {
            IpVersion::Any => &resolvers.any,
            IpVersion::V4 => &resolvers.v4,
            IpVersion::V6 => &resolvers.v6,
        };
        attempt.enter(format!("resolving {host}"));
        let start = Instant::now();
        let lookup = Box::pin(resolver.lookup_ip(host)).await;
        add_phase(&mut attempt.phases.dns, start);
        let lookup =
            lookup.map_err(|error| Failure::new(ErrorKind::Dns, format!("dns: cannot resolve {host}: {error}")))?;
        lookup.iter().next().ok_or_else(|| Failure::new(ErrorKind::Dns, format!("dns: {host} has no address")))
    }

    /// Opens a TCP connection to `address` from `source_ip`, recording the `connect` phase.
    ///
    /// Nagle's algorithm stays on: a probe's first write is never delayed by it. TLS callers turn it off with
    /// [`no_delay`], since the request follows the handshake's last flight before that is acknowledged.
    pub async fn connect(&self, address: SocketAddr, attempt: &mut Attempt) -> Result<TcpStream, Failure> {
        attempt.enter_at("connecting to", address);
        let start = Instant::now();
        let stream = self.open(address).await;
        add_phase(&mut attempt.phases.connect, start);
        stream.map_err(|error| connect_failure(&error, address))
    }

    async fn open(&self, address: SocketAddr) -> io::Result<TcpStream> {
        let socket = if address.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
        if let Some(ip) = self.source_ip {
            socket.bind(SocketAddr::new(ip, 0))?;
        }
        socket.connect(address).await
    }
}

/// Turns off Nagle's algorithm on `stream` (best effort: a failure only risks a delayed write).
pub fn no_delay(stream: &TcpStream) {
    if let Err(error) = stream.set_nodelay(true) {
        tracing::debug!(%error, "Could not set TCP_NODELAY.");
    }
}

fn bind_name_servers(config: ResolverConfig, source_ip: Option<IpAddr>) -> ResolverConfig {
    let Some(ip) = source_ip else { return config };
    let (domain, search, mut servers) = config.into_parts();
    for server in &mut servers {
        for connection in &mut server.connections {
            connection.bind_addr = Some(SocketAddr::new(ip, 0));
        }
    }
    ResolverConfig::from_parts(domain, search, servers)
}

fn check_family(ip: IpAddr, version: IpVersion, host: &str) -> Result<IpAddr, Failure> {
    match (version, ip) {
        (IpVersion::V4, IpAddr::V6(_)) | (IpVersion::V6, IpAddr::V4(_)) => {
            Err(Failure::new(ErrorKind::Connect, format!("connect: {host} does not match ip_version")))
        }
        _ => Ok(ip),
    }
}

/// A `connect` failure naming the address and the cause in plain words.
pub fn connect_failure(error: &io::Error, address: SocketAddr) -> Failure {
    let cause = match error.kind() {
        io::ErrorKind::ConnectionRefused => "connection refused".to_owned(),
        io::ErrorKind::ConnectionReset => "connection reset by peer".to_owned(),
        io::ErrorKind::AddrNotAvailable => "source address not available on this host".to_owned(),
        _ => error.to_string(),
    };
    Failure::new(ErrorKind::Connect, format!("connect: {cause} ({address})"))
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use super::address_text;

    #[test]
    fn an_address_reads_as_the_standard_library_writes_it() {
        for text in ["0.0.0.0:0", "192.0.2.1:443", "255.255.255.255:65535", "[2001:db8::1]:443", "[::1]:8080"] {
            let address: SocketAddr = text.parse().unwrap();
            assert_eq!(address_text(address), text);
            assert_eq!(address_text(address), address.to_string());
        }
    }
}
