//! Who is asking: passwords, sign-in throttling, sessions, CSRF, the API's
//! `Authorization: whm USER:TOKEN` header and the client's address.

pub mod api_header;
pub mod client_ip;
pub mod cookies;
pub mod csrf;
pub mod device;
pub mod leak_limits;
pub mod one_at_a_time;
pub mod passkeys;
pub mod password;
pub mod per_minute;
pub mod refusals;
pub mod session_store;
pub mod throttle;
pub mod token_cache;
pub mod two_factor;
pub mod usage;
