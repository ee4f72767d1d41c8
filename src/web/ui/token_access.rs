//! Who may reach the tokens pages, and the token a URL names: WHM shows
//! the tokens page only to those holding every Initial Privilege.

use std::future::Future;
use std::pin::Pin;

use actix_session::SessionExt;
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};

use crate::domain::TokenName;
use crate::ops::tokens::{self as token_ops, Token};
use crate::ops::OpError;
use crate::state::AppState;

use super::chrome::Chrome;
use super::error::UiError;
use super::signed_in::SignedIn;

/// A signed-in user who may manage API tokens: WHM shows the tokens page
/// only to those holding every Initial Privilege. Every token handler takes
/// this instead of [`SignedIn`], so the rule is checked in one place; the
/// others get the explanation page (see [`UiError::NoTokenAccess`]).
pub struct TokenManager(pub SignedIn);

impl FromRequest for TokenManager {
    type Error = UiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, UiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let signed_in = SignedIn::from_request(req, payload);
        let session = req.get_session();
        Box::pin(async move {
            let user = signed_in.await?;
            if user.actor.account.holds_initial_privileges() {
                Ok(TokenManager(user))
            } else {
                Err(UiError::NoTokenAccess(Box::new(Chrome::for_user(
                    &user, &session,
                ))))
            }
        })
    }
}

/// The token a URL names. A name that cannot be valid names no token.
pub fn name_in_path(raw: &str) -> Result<TokenName, UiError> {
    TokenName::parse(raw).map_err(|_| OpError::TokenNotFound(raw.to_owned()).into())
}

/// The user's token a URL names.
pub async fn load(state: &AppState, user: &SignedIn, name: &str) -> Result<Token, UiError> {
    let name = name_in_path(name)?;
    Ok(state
        .read_as(&user.actor, move |conn, actor| {
            token_ops::get(conn, actor, &name)
        })
        .await?)
}
