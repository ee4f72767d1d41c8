//! Toasts: short messages at the bottom right.

use askama::Template;

/// A toast: out of band beside a partial that succeeded, or alone (sent to
/// the toast area by `HX-Retarget`) for an htmx request that failed.
#[derive(Template)]
#[template(path = "toast.html")]
pub struct Toast<'a> {
    pub message: &'a str,
    pub error: bool,
    pub oob: bool,
}

impl<'a> Toast<'a> {
    pub fn oob(message: &'a str) -> Self {
        Self {
            message,
            error: false,
            oob: true,
        }
    }

    pub fn error(message: &'a str) -> Self {
        Self {
            message,
            error: true,
            oob: false,
        }
    }
}
