//! Pure types and rules of accounts and API tokens. Nothing here does I/O.
//!
//! Every type is built by a `parse` (or equivalent) constructor, so a value
//! that exists is a value that is valid: handlers parse raw input once, and
//! everything past them works with these types.

pub mod account_kind;
pub mod audit_event;
pub mod description;
pub mod email;
pub mod expiry;
pub mod forward_rules;
pub mod ip_allow_list;
pub mod passkey_name;
pub mod password;
pub mod privileges;
pub mod secret;
pub mod text;
pub mod token_name;
pub mod token_policy;
pub mod username;

pub use account_kind::AccountKind;
pub use audit_event::AuditEvent;
pub use description::Description;
pub use email::EmailAddress;
pub use expiry::{Expiry, ServerClock};
pub use ip_allow_list::IpAllowList;
pub use passkey_name::PasskeyName;
pub use password::Password;
pub use privileges::{Privilege, PrivilegeSet};
pub use secret::{TokenDigest, TokenSecret};
pub use token_name::TokenName;
pub use username::Username;
