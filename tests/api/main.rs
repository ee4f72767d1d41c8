//! Integration tests: the real application over HTTP, each test on a fresh
//! database. Run against PostgreSQL by setting WHM_TOKENS_TEST_DATABASE_URL.

mod auth_matrix;
mod helpers;
mod json_api;
mod store;
mod ui_accounts;
mod ui_session;
mod ui_tokens;
