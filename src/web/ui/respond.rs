//! Answers of the page: rendered templates (never cached, varying by
//! htmx), partials with out-of-band extras, and redirects.

use actix_web::http::header::{self, CacheControl, CacheDirective};
use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use askama::Template;

use super::error::UiError;

/// Whether htmx asked for a fragment (and not for a history restore, which
/// needs the whole page).
pub fn wants_partial() -> bool {
    crate::web::context::current().is_some_and(|c| c.htmx)
}

/// Renders a template as a private, never-cached HTML answer.
pub fn render(status: StatusCode, template: &impl Template) -> Result<HttpResponse, UiError> {
    let body = template
        .render()
        .map_err(|e| UiError::Internal(anyhow::anyhow!("template: {e}")))?;
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header(CacheControl(vec![CacheDirective::NoStore]))
        .insert_header((header::VARY, "HX-Request"))
        .body(body))
}

pub fn redirect(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, to))
        .insert_header(CacheControl(vec![CacheDirective::NoStore]))
        .finish()
}

/// Renders a partial followed by out-of-band extras (a toast, a cleared
/// dialog), as one never-cached answer.
pub fn render_parts(parts: &[&dyn askama::DynTemplate]) -> Result<HttpResponse, UiError> {
    let mut body = String::new();
    for part in parts {
        body.push_str(
            &part
                .dyn_render()
                .map_err(|e| UiError::Internal(anyhow::anyhow!("template: {e}")))?,
        );
    }
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header(CacheControl(vec![CacheDirective::NoStore]))
        .insert_header((header::VARY, "HX-Request"))
        .body(body))
}
