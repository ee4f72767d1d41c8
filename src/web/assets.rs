//! Static assets, built into the binary so it runs from any folder. URLs
//! carry a fingerprint of the file's content, so they can be cached for a
//! year and still change the moment the file does.

use actix_web::dev::ServiceRequest;
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::Method;
use actix_web::web::Bytes;
use actix_web::{web, HttpResponse};

pub const HTMX_VERSION: &str = "2.0.8";

struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const ASSETS: &[Asset] = &[
    Asset {
        name: "htmx-2.0.8.min.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../static/vendor/htmx-2.0.8.min.js"),
    },
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../static/app.js"),
    },
    Asset {
        name: "app.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../../static/app.css"),
    },
];

fn fingerprint(asset: &Asset) -> &'static str {
    static PRINTS: std::sync::LazyLock<Vec<String>> = std::sync::LazyLock::new(|| {
        use sha2::{Digest, Sha256};
        ASSETS
            .iter()
            .map(|a| hex::encode(&Sha256::digest(a.body)[..6]))
            .collect()
    });
    let index = ASSETS
        .iter()
        .position(|a| a.name == asset.name)
        .expect("known asset");
    &PRINTS[index]
}

/// The URL of a static file, for templates.
pub fn url(name: &str) -> String {
    let asset = ASSETS.iter().find(|a| a.name == name).expect("known asset");
    format!("/static/{}/{name}", fingerprint(asset))
}

/// Each asset at its exact address is answered by [`answer`], before the
/// router. Any other address under `/static/` (an old fingerprint, a file
/// that does not exist) is 404, without a session.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/static/{tail:.*}",
        web::get().to(|| async { HttpResponse::NotFound().finish() }),
    )
    .route("/favicon.ico", web::get().to(favicon));
}

/// The answer to a GET of an asset's exact address (fingerprint
/// included), or `None` for any other request. The outermost middleware
/// asks this first: an asset needs no route match, request context or body
/// deadline.
pub fn answer(req: &ServiceRequest) -> Option<HttpResponse> {
    let path = req.path();
    if !path.starts_with("/static/") || req.method() != Method::GET {
        return None;
    }
    let index = urls().iter().position(|url| url == path)?;
    Some(serve(ASSETS[index].content_type, bodies()[index].clone()))
}

/// Every asset's URL, in the order of `ASSETS`.
fn urls() -> &'static [String] {
    static URLS: std::sync::LazyLock<Vec<String>> =
        std::sync::LazyLock::new(|| ASSETS.iter().map(|a| url(a.name)).collect());
    &URLS
}

/// The assets' bytes, shared: a response holds a reference to them.
fn bodies() -> &'static [Bytes] {
    static BODIES: std::sync::LazyLock<Vec<Bytes>> = std::sync::LazyLock::new(|| {
        ASSETS
            .iter()
            .map(|a| Bytes::from(a.body.to_vec()))
            .collect()
    });
    &BODIES
}

const FAVICON: &[u8] = include_bytes!("../../static/favicon.ico");

/// The icon browsers ask for at this fixed address: cached for a day.
async fn favicon() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("image/x-icon"),
        ))
        .insert_header((
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=86400"),
        ))
        .body(FAVICON)
}

/// Headers from static strings: nothing is parsed or built per request.
fn serve(content_type: &'static str, body: Bytes) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, HeaderValue::from_static(content_type)))
        .insert_header((
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=31536000, immutable"),
        ))
        .body(body)
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    #[test]
    fn every_asset_is_answered_at_its_fingerprinted_address_and_nothing_else_is() {
        for asset in ASSETS {
            let address = url(asset.name);
            let answered = answer(&TestRequest::get().uri(&address).to_srv_request())
                .expect("a GET of the asset's address is answered");
            assert_eq!(answered.status(), actix_web::http::StatusCode::OK);
            assert_eq!(
                answered.headers().get(header::CONTENT_TYPE).unwrap(),
                asset.content_type
            );
            assert!(
                answer(&TestRequest::post().uri(&address).to_srv_request()).is_none(),
                "only GET is an asset's"
            );
            let stale = format!("/static/000000000000/{}", asset.name);
            assert!(answer(&TestRequest::get().uri(&stale).to_srv_request()).is_none());
        }
        assert!(answer(&TestRequest::get().uri("/tokens").to_srv_request()).is_none());
    }
}
