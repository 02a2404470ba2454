//! gRPC health probe (`kind: grpc`): one `grpc.health.v1.Health/Check` call on a fresh HTTP/2 connection,
//! plaintext or TLS, with the check's metadata. Only a `SERVING` answer passes.
//!
//! The connection is made here (so `dns`, `connect` and `tls` are measured as for other kinds) and driven in
//! this task while the call runs; `ttfb` runs from sending the request to its answer. Metadata values are
//! credentials: they are sent, never recorded, and taken out of any error message ([`super::capture`]).

use std::future::Future;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::task::{Context, Poll};

use http::Uri;
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo};
use slaprobe_checks::spec::GrpcSpec;
use slaprobe_proto::GrpcDetail;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;
use tonic::body::Body;
use tonic::codegen::Service;
use tonic::metadata::MetadataMap;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use super::net::{address_text, no_delay};
use super::tls::{describe_handshake_error, handshake_noting, server_name, session_facts};
use super::{Attempt, ErrorKind, Failure, ProbeContext, add_phase};

/// Runs one gRPC health check attempt.
pub async fn probe(context: &ProbeContext, spec: &GrpcSpec, attempt: &mut Attempt) -> Result<(), Failure> {
    attempt.grpc = Some(GrpcDetail { service: Some(spec.service.clone()), ..GrpcDetail::default() });
    let ip = context.resolve(&spec.host, spec.ip_version, attempt).await?;
    let address = SocketAddr::new(ip, spec.port);
    detail(attempt).remote_addr = Some(address_text(address));
    let stream = context.connect(address, attempt).await?;
    let authority = if spec.host.contains(':') {
        format!("[{}]:{}", spec.host, spec.port)
    } else {
        format!("{}:{}", spec.host, spec.port)
    };
    match &spec.tls {
        Some(config) => {
            let name =
                server_name(&spec.host).map_err(|error| Failure::new(ErrorKind::Tls, format!("tls: {error}")))?;
            no_delay(&stream);
            attempt.enter_at("in the TLS handshake with", address);
            let start = Instant::now();
            let (tls, _) = handshake_noting(config.clone(), name, stream).await;
            add_phase(&mut attempt.phases.tls, start);
            let tls = tls.map_err(|error| Failure::new(ErrorKind::Tls, describe_handshake_error(&error)))?;
            let (version, expiry) = session_facts(tls.get_ref().1);
            let detail = detail(attempt);
            detail.tls_version = version;
            detail.cert_expires_at = expiry;
            call(tls, &format!("https://{authority}"), spec, address, attempt).await
        }
        None => call(stream, &format!("http://{authority}"), spec, address, attempt).await,
    }
}

fn detail(attempt: &mut Attempt) -> &mut GrpcDetail {
    attempt.grpc.get_or_insert_default()
}

/// The HTTP/2 handshake and the call, with the connection driven alongside.
async fn call<S>(
    io: S,
    origin: &str,
    spec: &GrpcSpec,
    address: SocketAddr,
    attempt: &mut Attempt,
) -> Result<(), Failure>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let origin: Uri = origin
        .parse()
        .map_err(|error| Failure::new(ErrorKind::Grpc, format!("grpc: {origin:?} is not a usable origin: {error}")))?;
    attempt.enter_at("in the HTTP/2 handshake with", address);
    let (sender, connection) = hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(io))
        .await
        .map_err(|error| Failure::new(ErrorKind::Grpc, format!("grpc: the HTTP/2 handshake failed: {error}")))?;
    let mut client = HealthClient::with_origin(Http2Sender(sender), origin);
    let request = tonic::Request::from_parts(
        MetadataMap::from_headers(spec.metadata.clone()),
        tonic::Extensions::default(),
        HealthCheckRequest { service: spec.service.clone() },
    );
    attempt.enter(format!("waiting for {address} to answer the health check"));
    let sent = Instant::now();
    let mut connection = pin!(connection);
    let answer = {
        let mut response = pin!(client.check(request));
        tokio::select! {
            response = &mut response => response,
            closed = &mut connection => {
                let cause = closed.err().map_or_else(|| "closed".to_owned(), |error| error.to_string());
                return Err(Failure::new(ErrorKind::Grpc, format!("grpc: {address} ended the connection: {cause}")));
            }
        }
    };
    add_phase(&mut attempt.phases.ttfb, sent);
    let service = if spec.service.is_empty() { "the server".to_owned() } else { format!("service {:?}", spec.service) };
    let response = answer.map_err(|status| {
        let code = code_name(status.code());
        detail(attempt).grpc_status = Some(code.clone());
        Failure::new(ErrorKind::Grpc, format!("grpc: Health/Check for {service} failed: {code}: {}", status.message()))
    })?;
    let status = response.into_inner().status();
    detail(attempt).serving_status = Some(status.as_str_name().to_owned());
    if status == ServingStatus::Serving {
        Ok(())
    } else {
        Err(Failure::new(ErrorKind::Assertion, format!("assertion: {service} is {}", status.as_str_name())))
    }
}

/// A gRPC status code as the specification spells it (`DEADLINE_EXCEEDED`).
fn code_name(code: tonic::Code) -> String {
    let camel = format!("{code:?}");
    let mut name = String::with_capacity(camel.len() + 4);
    for (index, character) in camel.chars().enumerate() {
        if character.is_ascii_uppercase() && index > 0 {
            name.push('_');
        }
        name.push(character.to_ascii_uppercase());
    }
    name
}

/// The HTTP/2 connection as the service tonic's client calls through.
struct Http2Sender(SendRequest<Body>);

impl Service<http::Request<Body>> for Http2Sender {
    type Response = http::Response<hyper::body::Incoming>;
    type Error = hyper::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, context: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(context)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        Box::pin(self.0.send_request(request))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_read_as_the_specification_spells_them() {
        assert_eq!(code_name(tonic::Code::DeadlineExceeded), "DEADLINE_EXCEEDED");
        assert_eq!(code_name(tonic::Code::Unimplemented), "UNIMPLEMENTED");
        assert_eq!(code_name(tonic::Code::Ok), "OK");
    }
}
