//! Static assets, built into the binary so it runs from any folder. URLs
//! carry a fingerprint of the file's content, so they can be cached for a
//! year and still change the moment the file does.

use actix_web::http::header::{self, HeaderValue};
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

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/static/{fingerprint}/{name}", web::get().to(serve))
        .route("/favicon.ico", web::get().to(favicon));
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

async fn serve(path: web::Path<(String, String)>) -> HttpResponse {
    let (print, name) = path.into_inner();
    match ASSETS.iter().find(|a| a.name == name) {
        // Headers from static strings: nothing is parsed or built per request.
        Some(asset) if print == fingerprint(asset) => HttpResponse::Ok()
            .insert_header((
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            ))
            .insert_header((
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=31536000, immutable"),
            ))
            .body(asset.body),
        _ => HttpResponse::NotFound().finish(),
    }
}
