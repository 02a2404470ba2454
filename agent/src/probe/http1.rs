//! One HTTP/1.1 exchange on a fresh connection, without a client connection machine: the request is written
//! whole, the response head parsed with `httparse`, and the body framed as RFC 9112 section 6.3 says: none for
//! `HEAD` and for 1xx, 204 and 304 answers; chunked (each chunk-size line parsed by `httparse`) when chunked is
//! the last transfer coding; `Content-Length`; otherwise until the server closes. Interim 1xx answers other than
//! 101 are skipped, as hyper does. The first bytes of the body are kept, the rest only counted.
//!
//! The request says `connection: close`, as blackbox_exporter's does: the connection serves one request. A
//! chunked body whose last chunk arrived is complete even if the server closes before the final empty line.
//!
//! Every HTTP/1.x hop goes through here (plain, over TLS, through a proxy); a connection that negotiated h2 goes
//! through hyper ([`super::http`]).

use std::io;
use std::net::SocketAddr;

use bytes::{Buf, BytesMut};
use http::header::{CONNECTION, CONTENT_LENGTH, HOST, TRANSFER_ENCODING, USER_AGENT};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

use super::http::{Response, detail};
use super::{Attempt, ErrorKind, Failure, add_phase};
use slaprobe_proto::capture::BODY_HEAD_BYTES;

/// Longest response head (status line, header fields, interim answers) accepted, as hyper's default buffer.
const MAX_HEAD_BYTES: usize = 400 * 1024;
/// Most header fields in one response head, as hyper's default.
const MAX_HEAD_FIELDS: usize = 100;
/// Bytes asked of the socket per read.
const READ_SIZE: usize = 8 * 1024;

/// What one request puts on the wire, less its headers.
pub(super) struct Wire<'a> {
    pub(super) method: &'a Method,
    /// `path?query`, or the absolute URL when it goes through a plain-HTTP proxy.
    pub(super) target: &'a str,
    /// `host[:port]`, sent as `host` unless the headers carry one.
    pub(super) authority: &'a str,
    pub(super) body: Option<&'a str>,
}

/// The request's bytes: request line, `headers` (plus `host`, `user-agent` and `connection: close` unless they
/// are among them, and `content-length` for a body), the body.
pub(super) fn request_bytes<'a>(
    wire: Wire<'_>,
    headers: impl Iterator<Item = (&'a HeaderName, &'a HeaderValue)>,
) -> Vec<u8> {
    let body = wire.body.unwrap_or_default();
    let mut bytes = Vec::with_capacity(256 + body.len());
    for part in [wire.method.as_str(), " ", wire.target, " HTTP/1.1\r\n"] {
        bytes.extend_from_slice(part.as_bytes());
    }
    let mut line = |name: &[u8], value: &[u8]| {
        bytes.extend_from_slice(name);
        bytes.extend_from_slice(b": ");
        bytes.extend_from_slice(value);
        bytes.extend_from_slice(b"\r\n");
    };
    let configured: Vec<_> = headers.collect();
    let has = |wanted: &[HeaderName]| configured.iter().any(|(name, _)| wanted.contains(name));
    if !has(&[HOST]) {
        line(b"host", wire.authority.as_bytes());
    }
    for (name, value) in &configured {
        line(name.as_str().as_bytes(), value.as_bytes());
    }
    if !has(&[USER_AGENT]) {
        line(b"user-agent", concat!("slaprobe-agent/", env!("CARGO_PKG_VERSION")).as_bytes());
    }
    if !has(&[CONNECTION]) {
        line(b"connection", b"close");
    }
    if !body.is_empty() && !has(&[CONTENT_LENGTH, TRANSFER_ENCODING]) {
        line(b"content-length", itoa::Buffer::new().format(body.len()).as_bytes());
    }
    bytes.extend_from_slice(b"\r\n");
    bytes.extend_from_slice(body.as_bytes());
    bytes
}

/// Sends `request` on `io`, reads the answer keeping `keep` body bytes, and records status, version, headers,
/// `ttfb` and `transfer` in `attempt`.
pub(super) async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut io: S,
    request: &[u8],
    method: &Method,
    keep: usize,
    address: SocketAddr,
    attempt: &mut Attempt,
) -> Result<Response, Failure> {
    attempt.enter_at("waiting for the response from", address);
    let sent = Instant::now();
    let mut connection = Connection { io: &mut io, buffer: BytesMut::with_capacity(READ_SIZE) };
    let head = connection.send_and_read_head(request).await;
    add_phase(&mut attempt.phases.ttfb, sent);
    let head = head?;
    {
        let detail = detail(attempt);
        detail.status = Some(head.status.as_u16());
        detail.version = Some(head.version.to_owned());
    }
    attempt.pending.status_line = Some(head.status_line);
    let framing = framing(method, head.status, &head.headers);
    attempt.pending.headers = Some(head.headers);
    let framing = framing?;
    attempt.enter_at("reading the response body from", address);
    let transfer_start = Instant::now();
    let mut body = Body { kept: Vec::new(), keep, received: 0 };
    let read = connection.read_body(framing, &mut body).await;
    add_phase(&mut attempt.phases.transfer, transfer_start);
    read.map_err(|error| error.describe(&format!("after {} bytes of the body", body.received)))?;
    detail(attempt).body_bytes = Some(body.received);
    attempt.pending.body_head = body.kept[..body.kept.len().min(BODY_HEAD_BYTES)].to_vec();
    Ok(Response { status: head.status, body: body.kept })
}

/// A response head as received.
struct Head {
    status: StatusCode,
    version: &'static str,
    /// As received.
    status_line: String,
    headers: HeaderMap,
}

/// How the body's end is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Empty,
    Length(u64),
    Chunked,
    UntilClose,
}

/// The framing of a response to `method` (RFC 9112 section 6.3).
fn framing(method: &Method, status: StatusCode, headers: &HeaderMap) -> Result<Framing, Failure> {
    if method == Method::HEAD
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
    {
        return Ok(Framing::Empty);
    }
    if let Some(coding) = headers.get_all(TRANSFER_ENCODING).iter().next_back() {
        let last = coding.as_bytes().rsplit(|&byte| byte == b',').next().unwrap_or_default();
        let chunked = last.trim_ascii().eq_ignore_ascii_case(b"chunked");
        return Ok(if chunked { Framing::Chunked } else { Framing::UntilClose });
    }
    let mut length = None;
    for value in headers.get_all(CONTENT_LENGTH) {
        for part in value.as_bytes().split(|&byte| byte == b',') {
            let parsed = std::str::from_utf8(part.trim_ascii()).ok().and_then(|text| text.parse::<u64>().ok());
            match (parsed, length) {
                (Some(this), None) => length = Some(this),
                (Some(this), Some(earlier)) if this == earlier => {}
                _ => {
                    let shown = String::from_utf8_lossy(value.as_bytes());
                    return Err(Failure::new(ErrorKind::Http, format!("http: invalid content-length {shown:?}")));
                }
            }
        }
    }
    Ok(length.map_or(Framing::UntilClose, Framing::Length))
}

/// The body's first `keep` bytes and the count of all received.
struct Body {
    kept: Vec<u8>,
    keep: usize,
    received: u64,
}

impl Body {
    fn take(&mut self, data: &[u8]) {
        self.received += data.len() as u64;
        let room = self.keep.saturating_sub(self.kept.len());
        self.kept.extend_from_slice(&data[..data.len().min(room)]);
    }
}

/// Why an exchange broke off.
enum Broken {
    Closed,
    Io(io::Error),
    Malformed(String),
}

impl From<io::Error> for Broken {
    fn from(error: io::Error) -> Self {
        Self::Io(error)
    }
}

impl Broken {
    /// The failure, `when` saying how far the exchange got.
    fn describe(self, when: &str) -> Failure {
        let message = match self {
            Self::Io(error) if error.kind() == io::ErrorKind::ConnectionReset => {
                format!("http: the server reset the connection {when}")
            }
            Self::Closed => format!("http: the server closed the connection {when}"),
            Self::Io(error) => format!("http: {error} ({when})"),
            Self::Malformed(what) => format!("http: {what} ({when})"),
        };
        Failure::new(ErrorKind::Http, message)
    }
}

/// The socket and what has been read from it but not yet used.
struct Connection<'a, S> {
    io: &'a mut S,
    buffer: BytesMut,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<'_, S> {
    /// Reads more into the buffer; a closed connection is [`Broken::Closed`].
    async fn fill(&mut self) -> Result<(), Broken> {
        self.buffer.reserve(READ_SIZE);
        match self.io.read_buf(&mut self.buffer).await? {
            0 => Err(Broken::Closed),
            _ => Ok(()),
        }
    }

    async fn send_and_read_head(&mut self, request: &[u8]) -> Result<Head, Failure> {
        let sent = async {
            self.io.write_all(request).await?;
            self.io.flush().await
        };
        sent.await.map_err(|error| Broken::Io(error).describe("while the request was sent"))?;
        self.read_head().await.map_err(|error| error.describe("before sending a complete response"))
    }

    /// The final response head; interim 1xx answers (except 101) are read past.
    async fn read_head(&mut self) -> Result<Head, Broken> {
        let mut consumed = 0;
        loop {
            match parse_head(&self.buffer).map_err(Broken::Malformed)? {
                Some((length, head)) => {
                    self.buffer.advance(length);
                    consumed += length;
                    let interim = head.status.is_informational() && head.status != StatusCode::SWITCHING_PROTOCOLS;
                    if !interim {
                        return Ok(head);
                    }
                }
                None if consumed + self.buffer.len() >= MAX_HEAD_BYTES => {
                    return Err(Broken::Malformed(format!("response head longer than {} KiB", MAX_HEAD_BYTES / 1024)));
                }
                None => self.fill().await?,
            }
        }
    }

    async fn read_body(&mut self, framing: Framing, body: &mut Body) -> Result<(), Broken> {
        match framing {
            Framing::Empty => Ok(()),
            Framing::Length(length) => self.read_exactly(length, body).await,
            Framing::Chunked => self.read_chunks(body).await,
            Framing::UntilClose => loop {
                body.take(&self.buffer);
                self.buffer.clear();
                match self.fill().await {
                    Err(Broken::Closed) => return Ok(()),
                    other => other?,
                }
            },
        }
    }

    async fn read_exactly(&mut self, mut length: u64, body: &mut Body) -> Result<(), Broken> {
        loop {
            let available = self.buffer.len().min(usize::try_from(length).unwrap_or(usize::MAX));
            body.take(&self.buffer[..available]);
            self.buffer.advance(available);
            length -= available as u64;
            if length == 0 {
                return Ok(());
            }
            self.fill().await?;
        }
    }

    async fn read_chunks(&mut self, body: &mut Body) -> Result<(), Broken> {
        loop {
            let size = match httparse::parse_chunk_size(&self.buffer) {
                Ok(httparse::Status::Complete((length, size))) => {
                    self.buffer.advance(length);
                    size
                }
                Ok(httparse::Status::Partial) if self.buffer.len() < MAX_HEAD_BYTES => {
                    self.fill().await?;
                    continue;
                }
                _ => return Err(Broken::Malformed("invalid chunk size line".to_owned())),
            };
            if size == 0 {
                return self.read_trailers().await;
            }
            self.read_exactly(size, body).await?;
            while self.buffer.len() < 2 {
                self.fill().await?;
            }
            if &self.buffer[..2] != b"\r\n" {
                return Err(Broken::Malformed("a chunk does not end with CRLF".to_owned()));
            }
            self.buffer.advance(2);
        }
    }

    /// Reads past the trailer fields to the empty line that ends the body; a server that closes instead has sent
    /// the whole body all the same.
    async fn read_trailers(&mut self) -> Result<(), Broken> {
        let mut consumed = 0;
        loop {
            match self.buffer.windows(2).position(|pair| pair == b"\r\n") {
                Some(0) => return Ok(()),
                Some(end) => {
                    self.buffer.advance(end + 2);
                    consumed += end + 2;
                }
                None if consumed + self.buffer.len() >= MAX_HEAD_BYTES => {
                    return Err(Broken::Malformed("trailer fields too long".to_owned()));
                }
                None => match self.fill().await {
                    Err(Broken::Closed) => return Ok(()),
                    other => other?,
                },
            }
        }
    }
}

/// Parses a response head at the start of `buffer`: its length and content once complete, `None` while partial.
fn parse_head(buffer: &[u8]) -> Result<Option<(usize, Head)>, String> {
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEAD_FIELDS];
    let mut response = httparse::Response::new(&mut fields);
    let length = match response.parse(buffer) {
        Ok(httparse::Status::Complete(length)) => length,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(format!("more than {MAX_HEAD_FIELDS} header fields")),
        Err(error) => return Err(format!("invalid response head: {error}")),
    };
    let code = response.code.unwrap_or_default();
    let status = StatusCode::from_u16(code).map_err(|_| format!("invalid status code {code}"))?;
    let version = if response.version == Some(0) { "HTTP/1.0" } else { "HTTP/1.1" };
    let mut headers = HeaderMap::with_capacity(response.headers.len());
    for field in response.headers.iter() {
        let name = HeaderName::from_bytes(field.name.as_bytes());
        let value = HeaderValue::from_bytes(field.value);
        let (Ok(name), Ok(value)) = (name, value) else {
            return Err(format!("invalid header field {:?}", field.name));
        };
        headers.append(name, value);
    }
    let line_end = buffer.iter().position(|&byte| byte == b'\n').unwrap_or(length);
    let status_line = String::from_utf8_lossy(buffer[..line_end].trim_ascii_end()).into_owned();
    Ok(Some((length, Head { status, version, status_line, headers })))
}

#[cfg(test)]
mod tests;
