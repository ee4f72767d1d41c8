//! The known-device cookie: after a successful sign-in the browser keeps a
//! cookie, signed by the server, naming the accounts it has signed in to.
//! Throttling lets such a browser past the limits a stranger could use to
//! lock the owner out (see [`super::throttle`]). The signed value carries
//! the time of that sign-in, so a copied or kept cookie stops counting
//! after [`DAYS`] whatever the browser does with its `Max-Age`.

use actix_web::cookie::time::Duration;
use actix_web::cookie::{Cookie, CookieJar, Key, SameSite};
use actix_web::HttpRequest;

use super::cookies::CookieNames;

/// How long a browser stays known without signing in again.
const DAYS: i64 = 90;
/// Accounts remembered per browser, newest first.
const MAX_ACCOUNTS: usize = 5;

/// The accounts this browser has signed in to within [`DAYS`] of `now`,
/// if its cookie is ours (`SIGNED_AT~ID.ID…`; a cookie of the older form,
/// without the time, counts for nothing).
pub fn accounts(req: &HttpRequest, key: &Key, secure: bool, now: i64) -> Vec<i64> {
    let name = CookieNames::new(secure).device();
    let Some(cookie) = req.cookie(name) else {
        return Vec::new();
    };
    let mut jar = CookieJar::new();
    jar.add_original(cookie);
    let Some(signed) = jar.signed(key).get(name) else {
        return Vec::new();
    };
    let Some((at, ids)) = signed.value().split_once('~') else {
        return Vec::new();
    };
    match at.parse::<i64>() {
        Ok(at) if at <= now && now - at <= DAYS * 86_400 => ids
            .split('.')
            .filter_map(|id| id.parse().ok())
            .take(MAX_ACCOUNTS)
            .collect(),
        _ => Vec::new(),
    }
}

/// The cookie that adds `account_id` to what this browser is known for,
/// signed in at `now`.
pub fn remember(
    req: &HttpRequest,
    key: &Key,
    account_id: i64,
    secure: bool,
    now: i64,
) -> Cookie<'static> {
    let name = CookieNames::new(secure).device();
    let mut ids = vec![account_id];
    ids.extend(
        accounts(req, key, secure, now)
            .into_iter()
            .filter(|id| *id != account_id),
    );
    ids.truncate(MAX_ACCOUNTS);
    let ids = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(".");
    let value = format!("{now}~{ids}");
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

#[cfg(test)]
mod signed_at {
    use super::*;

    fn with(cookie: &Cookie<'static>) -> HttpRequest {
        actix_web::test::TestRequest::default()
            .cookie(cookie.clone())
            .to_http_request()
    }

    #[test]
    fn a_cookie_counts_for_the_days_after_its_sign_in_and_not_after() {
        let key = Key::generate();
        let now = 1_800_000_000;
        let none = actix_web::test::TestRequest::default().to_http_request();
        let day = 86_400;
        let recent = remember(&none, &key, 7, true, now - (DAYS - 1) * day);
        assert_eq!(accounts(&with(&recent), &key, true, now), [7]);
        let old = remember(&none, &key, 7, true, now - (DAYS + 1) * day);
        assert!(accounts(&with(&old), &key, true, now).is_empty());
        // A sign-in adds the account, newest first, and renews the time.
        let again = remember(&with(&recent), &key, 9, true, now);
        assert_eq!(accounts(&with(&again), &key, true, now + 2 * day), [9, 7]);
    }

    #[test]
    fn a_signed_cookie_without_its_time_counts_for_nothing() {
        let key = Key::generate();
        let name = CookieNames::new(true).device();
        let mut jar = CookieJar::new();
        jar.signed_mut(&key).add(Cookie::new(name, "7.9"));
        let old_form = jar.get(name).cloned().unwrap();
        assert!(accounts(&with(&old_form), &key, true, 1_800_000_000).is_empty());
    }
}
