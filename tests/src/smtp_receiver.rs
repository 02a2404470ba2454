//! An SMTP server on loopback that keeps every message it accepts: the `mailin` crate speaks the protocol
//! (greeting, EHLO, MAIL, RCPT, DATA, QUIT), this module the sockets. Plain text only: no STARTTLS, no AUTH.

use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use mailin::{Action, Handler, Response, SessionBuilder, response};

/// One accepted message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    /// The envelope sender.
    pub from: String,
    /// The envelope recipients.
    pub to: Vec<String>,
    /// The message as sent (headers and body).
    pub data: String,
}

/// A running server; its thread ends with the test process.
pub struct SmtpReceiver {
    /// Where it listens.
    pub addr: SocketAddr,
    mails: Arc<Mutex<Vec<Mail>>>,
}

#[derive(Clone)]
struct Keeper {
    mails: Arc<Mutex<Vec<Mail>>>,
    current: Option<Mail>,
}

impl Handler for Keeper {
    fn data_start(&mut self, _domain: &str, from: &str, _is8bit: bool, to: &[String]) -> Response {
        self.current = Some(Mail { from: from.to_owned(), to: to.to_vec(), data: String::new() });
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
}

impl SmtpReceiver {
    /// Starts a server on `127.0.0.1:0`.
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the SMTP receiver");
        let addr = listener.local_addr().expect("local address");
        let mails = Arc::new(Mutex::new(Vec::new()));
        let keeper = Keeper { mails: mails.clone(), current: None };
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let keeper = keeper.clone();
                std::thread::spawn(move || serve(stream, keeper));
            }
        });
        Self { addr, mails }
    }

    /// `smtp://ADDR?tls=none`, as a channel's `smtp` setting.
    pub fn url(&self) -> String {
        format!("smtp://{}?tls=none", self.addr)
    }

    /// Every message accepted so far, in order.
    pub fn mails(&self) -> Vec<Mail> {
        self.mails.lock().expect("mail lock").clone()
    }
}

fn serve(stream: TcpStream, keeper: Keeper) {
    let peer = stream.peer_addr().map_or(IpAddr::from([127, 0, 0, 1]), |addr| addr.ip());
    let Ok(mut writer) = stream.try_clone() else { return };
    let mut reader = BufReader::new(stream);
    let mut session = SessionBuilder::new("smtp-receiver.test").build(peer, keeper);
    if session.greeting().write_to(&mut writer).is_err() {
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
        match reply.action {
            Action::NoReply => continue,
            Action::Reply | Action::UpgradeTls => {
                if reply.write_to(&mut writer).and_then(|()| writer.flush()).is_err() {
                    return;
                }
            }
            Action::Close => {
                let _ = reply.write_to(&mut writer);
                return;
            }
        }
    }
}
