//! The request being served: an id that every log line of the request
//! carries (as a field of the `request` span, which blocking work and
//! password jobs enter too) and that the answer returns in `X-Request-Id`;
//! and whether htmx sent it, which decides how an error is shown.

use std::fmt;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, ResponseError};
use rand::Rng;
use tracing::Instrument;

use super::ui::UiError;

pub const REQUEST_ID_HEADER: &str = "x-request-id";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestId(u64);

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
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

/// Opens the request's span, serves it inside, logs one line for it (its
/// method, path, status and time; routine ones at debug level) and returns
/// the id in `X-Request-Id`. Query strings are not logged: they may carry
/// parameters of API calls.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let id = RequestId(rand::rng().random::<u64>());
    let headers = req.headers();
    let current = Current {
        id,
        htmx: headers.contains_key("hx-request")
            && !headers.contains_key("hx-history-restore-request"),
    };
    let span = tracing::info_span!("request", request_id = %id);
    let started = Instant::now();
    let served = CURRENT
        .scope(
            current,
            WHO.scope(
                std::cell::RefCell::new(None),
                next.call(req).instrument(span.clone()),
            ),
        )
        .await;
    let _entered = span.enter();
    let mut res = match served {
        Ok(res) => res,
        // The session middleware turns every store failure into an opaque
        // 500; an unreachable database is a 503 with a clear message.
        Err(e) if format!("{e:?}").contains(crate::db::manager::UNAVAILABLE_PREFIX) => {
            tracing::info!(htmx = current.htmx, status = 503, "request");
            let error = UiError::Unavailable(super::UNAVAILABLE.to_owned());
            let mut response = CURRENT.sync_scope(current, || error.error_response());
            response.headers_mut().insert(
                HeaderName::from_static(REQUEST_ID_HEADER),
                HeaderValue::from_str(&id.to_string()).expect("hex is a valid header value"),
            );
            return Err(actix_web::error::InternalError::from_response(error, response).into());
        }
        Err(e) => return Err(e),
    };
    let (method, path) = (res.request().method(), res.request().path());
    let status = res.status();
    let elapsed_us = started.elapsed().as_micros() as u64;
    // API calls get one line of their own from the API (with user, token
    // and result); fingerprinted assets and health checks that succeed are
    // noise at info level, and their log line was a tenth of their cost.
    let routine = !status.is_server_error()
        && (super::api::function_of_path(path).is_some()
            || (status.is_success()
                && (path.starts_with("/static/") || path == "/healthz" || path == "/favicon.ico")));
    if routine {
        tracing::debug!(%method, %path, htmx = current.htmx, status = status.as_u16(), elapsed_us, "request");
    } else {
        tracing::info!(%method, %path, htmx = current.htmx, status = status.as_u16(), elapsed_us, "request");
    }
    res.headers_mut().insert(
        HeaderName::from_static(REQUEST_ID_HEADER),
        HeaderValue::from_str(&id.to_string()).expect("hex is a valid header value"),
    );
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::loggable;

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
