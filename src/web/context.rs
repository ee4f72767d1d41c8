//! The request being served, as any code serving it may ask: its id, which
//! every log line of the request carries (as a field of the `request`
//! span, which blocking work and password jobs enter too) and which the
//! answer returns in `X-Request-Id`; whether htmx sent it, which decides
//! how an error is shown; and who is signed in, once known. A leaf: it
//! imports nothing else of the server, so every layer above may read it.

use std::fmt;
use std::future::Future;

use rand::Rng;

/// What people are told when the database cannot be reached.
pub const UNAVAILABLE: &str = "The database is unavailable. Try again in a few seconds.";

pub const REQUEST_ID_HEADER: &str = "x-request-id";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestId(u64);

impl RequestId {
    pub fn new() -> Self {
        Self(rand::rng().random::<u64>())
    }
}

impl RequestId {
    /// The id as `X-Request-Id`'s value: 16 hex digits, written without
    /// the formatting machinery.
    pub fn header_value(self) -> actix_web::http::header::HeaderValue {
        actix_web::http::header::HeaderValue::from_bytes(&self.hex())
            .expect("hex digits are a valid header value")
    }

    /// Its 16 hex digits, most significant first.
    fn hex(self) -> [u8; 16] {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut digits = [0u8; 16];
        for (i, digit) in digits.iter_mut().enumerate() {
            *digit = HEX[((self.0 >> (60 - 4 * i)) & 0xf) as usize];
        }
        digits
    }
}

impl Default for RequestId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Every request's span and log line shows it: written as one piece
        // rather than through the integer formatter's padding.
        let digits = self.hex();
        f.write_str(std::str::from_utf8(&digits).expect("hex digits are ASCII"))
    }
}

/// What the code serving a request may ask about it, wherever it is.
#[derive(Clone, Copy, Debug)]
pub struct Current {
    pub id: RequestId,
    /// htmx sent it and wants a fragment (not a history restore).
    pub htmx: bool,
}

tokio::task_local! {
    static CURRENT: Current;
    /// Who is signed in, once the page's extractor has found out: error
    /// pages show the normal top bar with it.
    static WHO: std::cell::RefCell<Option<Who>>;
}

/// The signed-in account, as the top bar shows it.
#[derive(Clone, Debug)]
pub struct Who {
    pub username: String,
    pub is_root: bool,
    pub lists_accounts: bool,
    pub csrf: String,
}

/// Remembers who is signed in, for the rest of this request.
pub fn set_who(who: Who) {
    let _ = WHO.try_with(|w| *w.borrow_mut() = Some(who));
}

/// Who is signed in, if this request found out.
pub fn who() -> Option<Who> {
    WHO.try_with(|w| w.borrow().clone()).ok().flatten()
}

/// The request this task is serving, if any (none in commands and tests).
pub fn current() -> Option<Current> {
    CURRENT.try_with(|c| *c).ok()
}

/// Text a stranger sent, fit for a log line: printable ASCII as it is,
/// anything else (line breaks, terminal escapes, Unicode separators)
/// escaped, and at most 64 characters, so that nobody can forge a line or
/// fill the log.
pub fn loggable(raw: &str) -> String {
    const MAX: usize = 64;
    let mut out = String::with_capacity(raw.len().min(MAX) + 8);
    for (i, c) in raw.chars().enumerate() {
        if i == MAX {
            out.push('…');
            break;
        }
        if c == ' ' || c.is_ascii_graphic() {
            out.push(c);
        } else {
            out.extend(c.escape_default());
        }
    }
    out
}

/// The current request's id as text, `-` outside a request.
pub fn current_id() -> String {
    current().map_or_else(|| "-".to_owned(), |c| c.id.to_string())
}

/// Runs `served` as the request `current`, with nobody signed in yet.
pub async fn scope<F: Future>(current: Current, served: F) -> F::Output {
    CURRENT
        .scope(current, WHO.scope(std::cell::RefCell::new(None), served))
        .await
}

/// Runs `f` as the request `current` (for an answer built outside it).
pub fn sync_scope<T>(current: Current, f: impl FnOnce() -> T) -> T {
    CURRENT.sync_scope(current, f)
}

#[cfg(test)]
mod tests {
    use super::{loggable, RequestId};

    #[test]
    fn a_request_ids_header_is_its_sixteen_hex_digits() {
        for n in [0u64, 1, 0xdead_beef, u64::MAX, 0x0123_4567_89ab_cdef] {
            let id = RequestId(n);
            assert_eq!(id.header_value().to_str().unwrap(), id.to_string());
        }
    }

    #[test]
    fn loggable_text_cannot_break_a_line_or_run_long() {
        assert_eq!(loggable("root"), "root");
        assert_eq!(
            loggable("mallory\n2026-11-29T09:00:00Z  INFO signed in user=root"),
            "mallory\\n2026-11-29T09:00:00Z  INFO signed in user=root"
        );
        assert_eq!(loggable("a\u{1b}[31mb\u{2028}"), "a\\u{1b}[31mb\\u{2028}");
        assert_eq!(loggable(&"x".repeat(200)).chars().count(), 65);
    }
}
