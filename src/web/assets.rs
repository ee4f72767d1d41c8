//! Static assets, built into the binary so it runs from any folder. URLs
//! carry a fingerprint of the file's content, so they can be cached for a
//! year and still change the moment the file does.

use actix_web::http::header::{self, HeaderValue};
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

/// Each asset at its exact address: a route without parameters is matched
/// by comparing strings, where one with `{fingerprint}` runs a regex for
/// every request. Any other address under `/static/` (an old fingerprint,
/// a file that does not exist) is 404, without a session.
pub fn routes(cfg: &mut web::ServiceConfig) {
    for (asset, body) in ASSETS.iter().zip(bodies()) {
        let (content_type, body) = (asset.content_type, body.clone());
        cfg.route(
            &url(asset.name),
            web::get().to(move || {
                let body = body.clone();
                async move { serve(content_type, body) }
            }),
        );
    }
    cfg.route(
        "/static/{tail:.*}",
        web::get().to(|| async { HttpResponse::NotFound().finish() }),
    )
    .route("/favicon.ico", web::get().to(favicon));
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
