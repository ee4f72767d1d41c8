//! The `SignedIn` extractor every page uses: the signed-in account, read
//! afresh from the store on every request.

use std::future::Future;
use std::pin::Pin;

use actix_session::{Session, SessionExt};
use actix_web::{web, FromRequest, HttpRequest};

use crate::auth::client_ip;
use crate::auth::csrf;
use crate::auth::session_store::ACCOUNT_ID;
use crate::domain::AccountKind;
use crate::ops::two_factor as two_factor_store;
use crate::ops::{accounts, Actor, OpError, Origin};
use crate::state::AppState;

use super::chrome::{lists_accounts, take_flash, Chrome};
use super::error::UiError;

/// The signed-in account, read afresh from the store on every request: a
/// suspension or deletion takes effect on the very next click.
pub struct SignedIn {
    pub actor: Actor,
    pub csrf: String,
}

impl FromRequest for SignedIn {
    type Error = UiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, UiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let session = req.get_session();
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let path = req.path().to_owned();
        let client = state
            .as_ref()
            .and_then(|s| client_ip::of_request(req, &s.config.trusted_proxies));
        Box::pin(async move {
            let state = state.ok_or_else(|| UiError::Internal(anyhow::anyhow!("no app state")))?;
            let denied = UiError::SignInRequired;
            let Some(id) = session
                .get::<i64>(ACCOUNT_ID)
                .map_err(|_| UiError::SignInRequired)?
            else {
                return Err(denied);
            };
            let account = match state.db.read(move |conn| accounts::load(conn, id)).await {
                Ok(a) => a,
                Err(OpError::AccountNotFound(_)) => {
                    session.purge();
                    return Err(denied);
                }
                Err(e) => return Err(e.into()),
            };
            if account.suspended || !account.kind.may_own_tokens() {
                session.purge();
                return Err(denied);
            }
            // Root may require two-factor sign-in of resellers: one without
            // it may only set it up (or sign out).
            let setting_up = path.starts_with("/account/two-factor") || path == "/logout";
            if account.kind == AccountKind::Reseller && !account.two_factor && !setting_up {
                let required = state
                    .db
                    .read(two_factor_store::required_for_resellers)
                    .await?;
                if required {
                    return Err(UiError::TwoFactorSetupRequired);
                }
            }
            let csrf = csrf::token(&session)?;
            let origin = Origin {
                at: state.clock.now(),
                ip: client.map(|a| a.to_string()),
                request_id: Some(crate::web::context::current_id()),
                token: None,
            };
            let actor = Actor::signed_in(account).acting_from(origin);
            // Error pages show the same top bar as `Chrome::for_user`.
            crate::web::context::set_who(crate::web::context::Who {
                username: actor.account.username.to_string(),
                is_root: actor.account.is_root(),
                lists_accounts: lists_accounts(&actor),
                csrf: csrf.clone(),
            });
            Ok(SignedIn { actor, csrf })
        })
    }
}

impl SignedIn {
    /// Refuses (403, saying `why`) anyone but root.
    pub fn root_only(&self, why: &str) -> Result<(), UiError> {
        if self.actor.account.is_root() {
            Ok(())
        } else {
            Err(UiError::Forbidden(why.to_owned()))
        }
    }
}

impl Chrome {
    pub fn for_user(user: &SignedIn, session: &Session) -> Self {
        let mut chrome = Self::anonymous(user.csrf.clone(), take_flash(session));
        chrome.username = user.actor.account.username.to_string();
        chrome.is_root = user.actor.account.is_root();
        chrome.lists_accounts = lists_accounts(&user.actor);
        chrome
    }
}
