//! The known-device cookie: after a successful sign-in the browser keeps a
//! cookie, signed by the server, naming the accounts it has signed in to.
//! Throttling lets such a browser past the limits a stranger could use to
//! lock the owner out (see [`super::throttle`]).

use actix_web::cookie::time::Duration;
use actix_web::cookie::{Cookie, CookieJar, Key, SameSite};
use actix_web::HttpRequest;

use super::cookies::CookieNames;

/// How long a browser stays known without signing in again.
const DAYS: i64 = 90;
/// Accounts remembered per browser, newest first.
const MAX_ACCOUNTS: usize = 5;

/// The accounts this browser has signed in to, if its cookie is ours.
pub fn accounts(req: &HttpRequest, key: &Key, secure: bool) -> Vec<i64> {
    let name = CookieNames::new(secure).device();
    let Some(cookie) = req.cookie(name) else {
        return Vec::new();
    };
    let mut jar = CookieJar::new();
    jar.add_original(cookie);
    jar.signed(key)
        .get(name)
        .map(|c| {
            c.value()
                .split('.')
                .filter_map(|id| id.parse().ok())
                .take(MAX_ACCOUNTS)
                .collect()
        })
        .unwrap_or_default()
}

/// The cookie that adds `account_id` to what this browser is known for.
pub fn remember(req: &HttpRequest, key: &Key, account_id: i64, secure: bool) -> Cookie<'static> {
    let name = CookieNames::new(secure).device();
    let mut ids = vec![account_id];
    ids.extend(
        accounts(req, key, secure)
            .into_iter()
            .filter(|id| *id != account_id),
    );
    ids.truncate(MAX_ACCOUNTS);
    let value = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(".");
    let mut jar = CookieJar::new();
    jar.signed_mut(key).add(
        Cookie::build(name, value)
            .path("/")
            .http_only(true)
            .secure(secure)
            .same_site(SameSite::Lax)
            .max_age(Duration::days(DAYS))
            .finish(),
    );
    jar.get(name).cloned().expect("just added")
}
