//! The table of the API's functions: each one's name, the privilege it
//! needs, what a refusal says failed, and its handler. Dispatch, the
//! privilege check and `applist` (answered here, from the table) all read
//! [`FUNCTIONS`].

use std::future::Future;
use std::pin::Pin;

use serde::Serialize;

use crate::domain::Privilege;
use crate::ops;

use super::call::Call;
use super::envelope::{Data, Outcome};
use super::{accounts, info, policies, tokens};

/// One function of the API: its name, the privilege it needs (`None`: any
/// valid token), what a refusal says failed (WHM's "The system failed to
/// …: reason"), and the handler. Dispatch, the privilege check and
/// `applist` all read [`FUNCTIONS`].
pub struct Function {
    pub name: &'static str,
    pub privilege: Option<Privilege>,
    pub failure: Option<&'static str>,
    pub run: Handler,
}

pub type Handler = for<'a> fn(&'a Call<'a>) -> Pin<Box<dyn Future<Output = Outcome> + 'a>>;

macro_rules! function {
    ($name:literal, $privilege:expr, $failure:expr, $handler:path) => {
        Function {
            name: $name,
            privilege: $privilege,
            failure: $failure,
            run: |call| Box::pin($handler(call)),
        }
    };
}

const MANAGE_TOKENS: Option<Privilege> = Some(ops::tokens::MANAGE_TOKENS);

/// Root's token policy: only a token with `all` (and the operation checks
/// that its owner is root).
const ALL: Option<Privilege> = Some(Privilege::ALL);

pub const FUNCTIONS: &[Function] = &[
    function!("version", None, None, info::version),
    function!("applist", None, None, applist),
    function!("myprivs", None, None, info::myprivs),
    function!(
        "api_token_create",
        MANAGE_TOKENS,
        Some("create the API token"),
        tokens::create
    ),
    function!(
        "api_token_list",
        MANAGE_TOKENS,
        Some("list the API tokens"),
        tokens::list
    ),
    function!(
        "api_token_get_details",
        MANAGE_TOKENS,
        Some("get the API token's details"),
        tokens::get_details
    ),
    function!(
        "api_token_update",
        MANAGE_TOKENS,
        Some("update the API token"),
        tokens::update
    ),
    function!(
        "api_token_regenerate",
        MANAGE_TOKENS,
        Some("regenerate the API token"),
        tokens::regenerate
    ),
    function!(
        "api_token_revoke",
        MANAGE_TOKENS,
        Some("revoke the API tokens"),
        tokens::revoke
    ),
    function!(
        "api_token_policy_get",
        ALL,
        Some("get the token policy"),
        policies::get
    ),
    function!(
        "api_token_policy_set",
        ALL,
        Some("set the token policy"),
        policies::set
    ),
    function!(
        "listaccts",
        Some(ops::accounts::LIST_ACCOUNTS),
        Some("list the accounts"),
        accounts::list
    ),
    function!(
        "createacct",
        Some(ops::accounts::CREATE_ACCOUNT),
        Some("create the account"),
        accounts::create
    ),
    function!(
        "suspendacct",
        Some(ops::accounts::SUSPEND_ACCOUNT),
        Some("suspend the account"),
        accounts::suspend
    ),
    function!(
        "unsuspendacct",
        Some(ops::accounts::SUSPEND_ACCOUNT),
        Some("unsuspend the account"),
        accounts::unsuspend
    ),
    function!(
        "removeacct",
        Some(ops::accounts::DELETE_ACCOUNT),
        Some("remove the account"),
        accounts::remove
    ),
    function!(
        "modifyacct",
        Some(ops::accounts::MODIFY_ACCOUNT),
        Some("modify the account"),
        accounts::modify
    ),
    function!(
        "create_user_session",
        Some(ops::login_links::CREATE_USER_SESSION),
        Some("create the user session"),
        info::create_user_session
    ),
];

#[derive(Serialize)]
struct AppList {
    app: Vec<&'static str>,
}

/// The functions this token may call.
pub async fn applist(call: &Call<'_>) -> Outcome {
    let app = FUNCTIONS
        .iter()
        .filter(|f| f.privilege.is_none_or(|p| call.actor.require(p).is_ok()))
        .map(|f| f.name)
        .collect();
    Data::json(&AppList { app }).map(Some)
}
