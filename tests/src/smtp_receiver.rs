//! An SMTP server on loopback that keeps every message it accepts: the `mailin` crate speaks the protocol
//! (greeting, EHLO, STARTTLS, AUTH PLAIN/LOGIN, MAIL, RCPT, DATA, QUIT), this module the sockets and TLS
//! (rustls). Plain by default; [`Security`] chooses STARTTLS or TLS from the first byte, and credentials make
//! it demand AUTH (offered only over TLS).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use mailin::{Action, AuthMechanism, Handler, Response, SessionBuilder, response};
use rustls::{ServerConfig, ServerConnection, StreamOwned};

/// One accepted message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    /// The envelope sender.
    pub from: String,
    /// The envelope recipients.
    pub to: Vec<String>,
    /// The message as sent (headers and body).
    pub data: String,
    /// Whether it came over TLS.
    pub tls: bool,
    /// The user the client authenticated as, if it did.
    pub user: Option<String>,
}

/// How the server protects the session.
#[derive(Clone)]
pub enum Security {
    /// Plain text only; no STARTTLS offered.
    Plain,
    /// STARTTLS offered with this configuration.
    StartTls(Arc<ServerConfig>),
    /// TLS from the first byte (`smtps`).
    Implicit(Arc<ServerConfig>),
}

/// A running server; its thread ends with the test process.
pub struct SmtpReceiver {
    /// Where it listens.
    pub addr: SocketAddr,
    mails: Arc<Mutex<Vec<Mail>>>,
    auth_attempts: Arc<Mutex<Vec<(String, bool)>>>,
}

#[derive(Clone)]
struct Keeper {
    mails: Arc<Mutex<Vec<Mail>>>,
    auth_attempts: Arc<Mutex<Vec<(String, bool)>>>,
    credentials: Option<(String, String)>,
    current: Option<Mail>,
    /// Whether this session is under TLS (set by [`serve`] after STARTTLS).
    tls: Arc<AtomicBool>,
    user: Option<String>,
}

impl Keeper {
    fn authenticate(&mut self, user: &str, password: &str) -> Response {
        let accepted = self
            .credentials
            .as_ref()
            .is_some_and(|(expected_user, expected)| user == expected_user && password == expected);
        self.auth_attempts.lock().expect("auth lock").push((user.to_owned(), self.tls.load(Ordering::SeqCst)));
        if accepted {
            self.user = Some(user.to_owned());
            response::AUTH_OK
        } else {
            response::INVALID_CREDENTIALS
        }
    }
}

impl Handler for Keeper {
    fn data_start(&mut self, _domain: &str, from: &str, _is8bit: bool, to: &[String]) -> Response {
        if self.credentials.is_some() && self.user.is_none() {
            return response::AUTHENTICATION_REQUIRED;
        }
        self.current = Some(Mail {
            from: from.to_owned(),
            to: to.to_vec(),
            data: String::new(),
            tls: self.tls.load(Ordering::SeqCst),
            user: self.user.clone(),
        });
        response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        if let Some(mail) = &mut self.current {
            mail.data.push_str(&String::from_utf8_lossy(buf));
        }
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        if let Some(mail) = self.current.take() {
            self.mails.lock().expect("mail lock").push(mail);
        }
        response::OK
    }

    fn auth_plain(&mut self, _authorization_id: &str, authentication_id: &str, password: &str) -> Response {
        self.authenticate(authentication_id, password)
    }

    fn auth_login(&mut self, username: &str, password: &str) -> Response {
        self.authenticate(username, password)
    }
}

/// The session's socket, plain or TLS.
enum Stream {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ServerConnection, TcpStream>>),
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Self::Plain(stream) => stream.read(buf),
            Self::Tls(stream) => stream.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Self::Plain(stream) => stream.write(buf),
            Self::Tls(stream) => stream.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Self::Plain(stream) => stream.flush(),
            Self::Tls(stream) => stream.flush(),
        }
    }
}

fn tls_stream(stream: TcpStream, config: &Arc<ServerConfig>) -> Option<Stream> {
    let connection = ServerConnection::new(config.clone()).ok()?;
    Some(Stream::Tls(Box::new(StreamOwned::new(connection, stream))))
}

impl SmtpReceiver {
    /// Starts a plain server on `127.0.0.1:0` that takes mail from anyone.
    pub fn start() -> Self {
        Self::start_with(Security::Plain, None)
    }

    /// Starts a server on `127.0.0.1:0` protected by `security`; with `credentials` (user, password) it takes
    /// mail only after AUTH with them.
    pub fn start_with(security: Security, credentials: Option<(&str, &str)>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the SMTP receiver");
        let addr = listener.local_addr().expect("local address");
        let (mails, auth_attempts) = (Arc::new(Mutex::new(Vec::new())), Arc::new(Mutex::new(Vec::new())));
        let keeper = Keeper {
            mails: mails.clone(),
            auth_attempts: auth_attempts.clone(),
            credentials: credentials.map(|(user, password)| (user.to_owned(), password.to_owned())),
            current: None,
            tls: Arc::new(AtomicBool::new(false)),
            user: None,
        };
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (keeper, security) = (keeper.clone(), security.clone());
                std::thread::spawn(move || serve(stream, keeper, &security));
            }
        });
        Self { addr, mails, auth_attempts }
    }

    /// `smtp://ADDR?tls=none`, as a channel's `smtp` setting.
    pub fn url(&self) -> String {
        format!("smtp://{}?tls=none", self.addr)
    }

    /// Every message accepted so far, in order.
    pub fn mails(&self) -> Vec<Mail> {
        self.mails.lock().expect("mail lock").clone()
    }

    /// Every AUTH attempt so far: the user named, and whether the session was under TLS.
    pub fn auth_attempts(&self) -> Vec<(String, bool)> {
        self.auth_attempts.lock().expect("auth lock").clone()
    }
}

fn serve(stream: TcpStream, mut keeper: Keeper, security: &Security) {
    let peer = stream.peer_addr().map_or(IpAddr::from([127, 0, 0, 1]), |addr| addr.ip());
    let mut builder = SessionBuilder::new("smtp-receiver.test");
    if matches!(security, Security::StartTls(_)) {
        builder.enable_start_tls();
    }
    if keeper.credentials.is_some() {
        builder.enable_auth(AuthMechanism::Plain).enable_auth(AuthMechanism::Login);
    }
    let implicit = matches!(security, Security::Implicit(_));
    let tls = Arc::new(AtomicBool::new(implicit));
    keeper.tls = tls.clone();
    let stream = match security {
        Security::Implicit(config) => {
            let Some(stream) = tls_stream(stream, config) else { return };
            stream
        }
        _ => Stream::Plain(stream),
    };
    let mut session = builder.build(peer, keeper);
    if implicit {
        session.tls_active();
    }
    let mut reader = BufReader::new(stream);
    if session.greeting().write_to(reader.get_mut()).and_then(|()| reader.get_mut().flush()).is_err() {
        return;
    }
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let reply = session.process(&line);
        let writer = reader.get_mut();
        match reply.action {
            Action::NoReply => continue,
            Action::Reply => {
                if reply.write_to(writer).and_then(|()| writer.flush()).is_err() {
                    return;
                }
            }
            Action::UpgradeTls => {
                let (Security::StartTls(config), Stream::Plain(_)) = (security, &*writer) else { return };
                if reply.write_to(writer).and_then(|()| writer.flush()).is_err() || !reader.buffer().is_empty() {
                    return; // a client that sends past STARTTLS before the handshake is not served
                }
                let Stream::Plain(plain) = reader.into_inner() else { return };
                let Some(stream) = tls_stream(plain, config) else { return };
                reader = BufReader::new(stream);
                tls.store(true, Ordering::SeqCst);
                session.tls_active();
            }
            Action::Close => {
                let _ = reply.write_to(writer);
                return;
            }
        }
    }
}
