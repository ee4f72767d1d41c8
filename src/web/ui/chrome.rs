//! What every page shows around its content: the top bar (who is signed
//! in, their links, the CSRF token for its forms), the flash message, and
//! the assets' addresses.

use actix_session::Session;

use crate::web::assets;

/// What every signed-in page shows around its content.
#[derive(Clone, Debug)]
pub struct Chrome {
    pub username: String,
    pub is_root: bool,
    /// Whether the Accounts page has anything for this account.
    pub lists_accounts: bool,
    pub csrf: String,
    pub flash: Option<String>,
    pub htmx_url: String,
    pub css_url: String,
    pub js_url: String,
}

impl Chrome {
    pub fn anonymous(csrf: String, flash: Option<String>) -> Self {
        Self {
            username: String::new(),
            is_root: false,
            lists_accounts: false,
            csrf,
            flash,
            htmx_url: assets::url(&format!("htmx-{}.min.js", assets::HTMX_VERSION)),
            css_url: assets::url("app.css"),
            js_url: assets::url("app.js"),
        }
    }

    /// The top bar of the account this request signed in, for pages built
    /// without the extractor (error pages); anonymous when none.
    pub fn of_request() -> Self {
        match crate::web::context::who() {
            Some(who) => {
                let mut chrome = Self::anonymous(who.csrf, None);
                chrome.username = who.username;
                chrome.is_root = who.is_root;
                chrome.lists_accounts = who.lists_accounts;
                chrome
            }
            None => Self::anonymous(String::new(), None),
        }
    }
}

/// Whether the account may see the Accounts page (root, or a reseller with
/// `list-accts`): otherwise the link is not shown.
pub fn lists_accounts(actor: &crate::ops::Actor) -> bool {
    actor.require(crate::ops::accounts::LIST_ACCOUNTS).is_ok()
}

const FLASH: &str = "flash";

/// A message for the next page the user sees (after a redirect).
pub fn flash(session: &Session, message: &str) {
    let _ = session.insert(FLASH, message);
}

pub fn take_flash(session: &Session) -> Option<String> {
    session.remove_as::<String>(FLASH).and_then(Result::ok)
}
