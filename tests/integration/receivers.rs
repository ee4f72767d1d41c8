//! What the notices are sent to, started by the test on loopback: a small
//! SMTP server that keeps the mail it accepts, and a webhook receiver that
//! keeps the requests it gets. Either can be told to refuse the next few.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use crate::helpers::wait_until;

#[derive(Clone, Debug)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    /// Headers and body, as sent.
    pub data: String,
}

#[derive(Default)]
struct SmtpInner {
    accepted: Mutex<Vec<Mail>>,
    /// Messages refused (451) before accepting again.
    refuse: AtomicUsize,
    attempts: AtomicUsize,
}

/// An SMTP server on 127.0.0.1 that accepts every mail (no TLS, no login).
#[derive(Clone)]
pub struct SmtpSink {
    pub port: u16,
    inner: Arc<SmtpInner>,
}

impl SmtpSink {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let inner = Arc::new(SmtpInner::default());
        let shared = inner.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(session(stream, shared.clone()));
            }
        });
        Self { port, inner }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Refuses the next `n` messages with a temporary failure.
    pub fn refuse_next(&self, n: usize) {
        self.inner.refuse.store(n, Ordering::SeqCst);
    }

    pub fn mail(&self) -> Vec<Mail> {
        self.inner.accepted.lock().unwrap().clone()
    }

    /// Messages sent to it, accepted or not.
    pub fn attempts(&self) -> usize {
        self.inner.attempts.load(Ordering::SeqCst)
    }

    /// Waits (at most `limit`) until it has accepted `n` messages.
    pub async fn wait_for(&self, n: usize, limit: Duration) -> Vec<Mail> {
        wait_until("mail accepted", limit, || {
            let enough = self.mail().len() >= n;
            async move { enough }
        })
        .await;
        self.mail()
    }
}

/// A mail server on 127.0.0.1 that accepts connections and never says a
/// word, as one that hangs does.
pub struct SilentSmtp {
    pub port: u16,
    held: Arc<Mutex<Vec<tokio::net::TcpStream>>>,
}

impl SilentSmtp {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let held = Arc::new(Mutex::new(Vec::new()));
        let shared = held.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                // Kept open: a closed one would fail at once.
                shared.lock().unwrap().push(stream);
            }
        });
        Self { port, held }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Connections made to it.
    pub fn connections(&self) -> usize {
        self.held.lock().unwrap().len()
    }
}

async fn session(stream: tokio::net::TcpStream, inner: Arc<SmtpInner>) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    let _ = write.write_all(b"220 sink.test ESMTP\r\n").await;
    let (mut from, mut to) = (String::new(), Vec::new());
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        let command = line.trim_end().to_owned();
        let upper = command.to_ascii_uppercase();
        let reply: &[u8] = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
            b"250-sink.test\r\n250 8BITMIME\r\n"
        } else if upper.starts_with("MAIL FROM:") {
            from = command[10..].trim().to_owned();
            to.clear();
            b"250 OK\r\n"
        } else if upper.starts_with("RCPT TO:") {
            to.push(command[8..].trim().to_owned());
            b"250 OK\r\n"
        } else if upper == "DATA" {
            let _ = write.write_all(b"354 Go ahead\r\n").await;
            let mut data = String::new();
            loop {
                line.clear();
                if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                    return;
                }
                if line == ".\r\n" {
                    break;
                }
                data.push_str(&line);
            }
            inner.attempts.fetch_add(1, Ordering::SeqCst);
            let refused = inner
                .refuse
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
            if refused {
                b"451 Try again later\r\n"
            } else {
                inner.accepted.lock().unwrap().push(Mail {
                    from: from.clone(),
                    to: to.clone(),
                    data,
                });
                b"250 Queued\r\n"
            }
        } else if upper == "QUIT" {
            let _ = write.write_all(b"221 Bye\r\n").await;
            return;
        } else if upper == "RSET" || upper == "NOOP" {
            b"250 OK\r\n"
        } else {
            b"502 Not implemented\r\n"
        };
        if write.write_all(reply).await.is_err() {
            return;
        }
    }
}

#[derive(Clone, Debug)]
pub struct Delivery {
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Whether the receiver answered 200 (or refused it with 500).
    pub accepted: bool,
}

impl Delivery {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    /// The signature's time when it holds under `secret`, as the README
    /// tells a receiver to check it: `X-WHM-Tokens-Signature` is
    /// `t=<time>,v1=<hex HMAC-SHA256 of "<time>.<delivery id>.<body>">`,
    /// compared in constant time.
    pub fn signed_at(&self, secret: &str) -> Option<i64> {
        use hmac::{Hmac, Mac};
        let header = self.header("X-WHM-Tokens-Signature")?;
        let (t, v1) = header.strip_prefix("t=")?.split_once(",v1=")?;
        let delivery = self.header("X-WHM-Tokens-Delivery")?;
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{t}.{delivery}.").as_bytes());
        mac.update(&self.body);
        mac.verify_slice(&hex::decode(v1).ok()?).ok()?;
        t.parse().ok()
    }
}

#[derive(Default)]
struct HookInner {
    seen: Mutex<Vec<Delivery>>,
    refuse: AtomicUsize,
    /// The next request waits for its answer: told when it arrives, and
    /// answered when the test lets go.
    hold: Mutex<
        Option<(
            tokio::sync::oneshot::Sender<()>,
            tokio::sync::oneshot::Receiver<()>,
        )>,
    >,
}

/// A request the receiver holds its answer to (see
/// [`WebhookReceiver::hold_next`]).
pub struct Hold {
    arrived: tokio::sync::oneshot::Receiver<()>,
    release: tokio::sync::oneshot::Sender<()>,
}

impl Hold {
    /// Waits (at most `limit`) until the held request has arrived.
    pub async fn arrived(&mut self, limit: Duration) {
        tokio::time::timeout(limit, &mut self.arrived)
            .await
            .expect("the held request within the limit")
            .expect("the receiver is running");
    }

    /// Answers the held request.
    pub fn release(self) {
        let _ = self.release.send(());
    }
}

/// An HTTP server on 127.0.0.1 that takes POSTs and answers 200.
#[derive(Clone)]
pub struct WebhookReceiver {
    pub port: u16,
    inner: Arc<HookInner>,
}

impl WebhookReceiver {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let inner = Arc::new(HookInner::default());
        let shared = inner.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(exchange(stream, shared.clone()));
            }
        });
        Self { port, inner }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hooks/tokens", self.port)
    }

    /// Answers the next `n` requests with 500.
    pub fn refuse_next(&self, n: usize) {
        self.inner.refuse.store(n, Ordering::SeqCst);
    }

    /// Holds its answer to the next request until the test lets go, so
    /// that the test can change things while a notice is being sent.
    pub fn hold_next(&self) -> Hold {
        let (arrived_tx, arrived) = tokio::sync::oneshot::channel();
        let (release, release_rx) = tokio::sync::oneshot::channel();
        *self.inner.hold.lock().unwrap() = Some((arrived_tx, release_rx));
        Hold { arrived, release }
    }

    /// Every request, accepted or refused, in order.
    pub fn seen(&self) -> Vec<Delivery> {
        self.inner.seen.lock().unwrap().clone()
    }

    pub fn accepted(&self) -> Vec<Delivery> {
        self.seen().into_iter().filter(|d| d.accepted).collect()
    }

    pub async fn wait_for(&self, n: usize, limit: Duration) -> Vec<Delivery> {
        wait_until("webhook deliveries accepted", limit, || {
            let enough = self.accepted().len() >= n;
            async move { enough }
        })
        .await;
        self.accepted()
    }
}

/// One request on a connection (the client is told to close it).
async fn exchange(stream: tokio::net::TcpStream, inner: Arc<HookInner>) {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    let mut line = String::new();
    if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
        return;
    }
    let mut headers = Vec::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    let length = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0)
        .min(1 << 20);
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).await.is_err() {
        return;
    }
    let held = inner.hold.lock().unwrap().take();
    if let Some((arrived, release)) = held {
        let _ = arrived.send(());
        let _ = release.await;
    }
    let refused = inner
        .refuse
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    inner.seen.lock().unwrap().push(Delivery {
        headers,
        body,
        accepted: !refused,
    });
    let status = if refused {
        "500 Internal Server Error"
    } else {
        "200 OK"
    };
    let _ = write
        .write_all(
            format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await;
}
