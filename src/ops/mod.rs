//! The operations both front ends (the page and the WHM API) call. Each
//! takes the acting account, is scoped to what that account may touch, and
//! runs inside the caller's transaction (see [`crate::db::Db::write`]).

pub mod account_listing;
pub mod account_names;
pub mod accounts;
pub mod actor;
pub mod all_tokens;
pub mod audit;
pub mod authenticate;
pub mod error;
pub mod kept_text;
pub mod leaks;
pub mod login_links;
pub mod notices;
pub mod passkeys;
pub mod policies;
pub mod token_listing;
pub mod token_names;
pub mod token_rules;
pub mod tokens;
pub mod two_factor;

pub use crate::domain::AccountKind;
pub use actor::{Account, Actor, Origin};
pub use error::OpError;
