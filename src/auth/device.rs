//! The known-device cookie: after a successful sign-in the browser keeps a
//! cookie, signed by the server, naming the accounts it has signed in to.
//! Throttling lets such a browser past the limits a stranger could use to
//! lock the owner out (see [`super::throttle`]). The signed value carries
//! each account's own time of sign-in (`ID:AT.ID:AT…`), so a copied or
//! kept cookie stops counting for an account [`DAYS`] after its last
//! sign-in to it, whatever the browser does with the `Max-Age` and however
//! often it signs in to other accounts.

use actix_web::cookie::time::Duration;
use actix_web::cookie::{Cookie, CookieJar, Key, SameSite};
use actix_web::HttpRequest;

use super::cookies::CookieNames;

/// How long a browser stays known for an account without signing in to it
/// again.
const DAYS: i64 = 90;
/// Accounts remembered per browser, newest first.
const MAX_ACCOUNTS: usize = 5;

/// The accounts in this browser's cookie, if it is ours, with the time of
/// each one's sign-in, those signed in to within [`DAYS`] of `now` only (a
/// cookie of an older form, without the times, holds none).
fn signed_in(req: &HttpRequest, key: &Key, secure: bool, now: i64) -> Vec<(i64, i64)> {
    let name = CookieNames::new(secure).device();
    let Some(cookie) = req.cookie(name) else {
        return Vec::new();
    };
    let mut jar = CookieJar::new();
    jar.add_original(cookie);
    let Some(signed) = jar.signed(key).get(name) else {
        return Vec::new();
    };
    signed
        .value()
        .split('.')
        .filter_map(|entry| {
            let (id, at) = entry.split_once(':')?;
            Some((id.parse().ok()?, at.parse().ok()?))
        })
        .filter(|&(_, at): &(i64, i64)| at <= now && now - at <= DAYS * 86_400)
        .take(MAX_ACCOUNTS)
        .collect()
}

/// The accounts this browser has signed in to within [`DAYS`] of `now`.
pub fn accounts(req: &HttpRequest, key: &Key, secure: bool, now: i64) -> Vec<i64> {
    signed_in(req, key, secure, now)
        .into_iter()
        .map(|(id, _)| id)
        .collect()
}

/// The cookie that adds `account_id`, signed in to at `now`, to what this
/// browser is known for; the others keep their own times.
pub fn remember(
    req: &HttpRequest,
    key: &Key,
    account_id: i64,
    secure: bool,
    now: i64,
) -> Cookie<'static> {
    let name = CookieNames::new(secure).device();
    let mut known = vec![(account_id, now)];
    known.extend(
        signed_in(req, key, secure, now)
            .into_iter()
            .filter(|(id, _)| *id != account_id),
    );
    known.truncate(MAX_ACCOUNTS);
    let value = known
        .iter()
        .map(|(id, at)| format!("{id}:{at}"))
        .collect::<Vec<_>>()
        .join(".");
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

    const DAY: i64 = 86_400;
    const NOW: i64 = 1_800_000_000;

    #[test]
    fn a_cookie_counts_for_an_account_the_days_after_its_sign_in_and_not_after() {
        let key = Key::generate();
        let none = actix_web::test::TestRequest::default().to_http_request();
        let recent = remember(&none, &key, 7, true, NOW - (DAYS - 1) * DAY);
        assert_eq!(accounts(&with(&recent), &key, true, NOW), [7]);
        let old = remember(&none, &key, 7, true, NOW - (DAYS + 1) * DAY);
        assert!(accounts(&with(&old), &key, true, NOW).is_empty());
    }

    #[test]
    fn signing_in_to_another_account_keeps_the_first_ones_time() {
        let key = Key::generate();
        let none = actix_web::test::TestRequest::default().to_http_request();
        let first = remember(&none, &key, 7, true, NOW - 80 * DAY);
        let both = remember(&with(&first), &key, 9, true, NOW);
        assert_eq!(accounts(&with(&both), &key, true, NOW), [9, 7]);
        // Account 9's sign-in does not renew account 7's.
        let later = NOW + 20 * DAY;
        let again = remember(&with(&both), &key, 9, true, later);
        assert_eq!(accounts(&with(&again), &key, true, later), [9]);
    }

    #[test]
    fn a_signed_cookie_without_its_times_counts_for_nothing() {
        let key = Key::generate();
        let name = CookieNames::new(true).device();
        for old_form in ["7.9", "1799999000~7.9"] {
            let mut jar = CookieJar::new();
            jar.signed_mut(&key).add(Cookie::new(name, old_form));
            let cookie = jar.get(name).cloned().unwrap();
            assert!(
                accounts(&with(&cookie), &key, true, NOW).is_empty(),
                "{old_form}"
            );
        }
    }
}
