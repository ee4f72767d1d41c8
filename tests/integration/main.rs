//! Integration tests: the real application over HTTP (and in headless
//! Chromium, see `browser`), each test on a fresh
//! database. Run against PostgreSQL by setting WHM_TOKENS_TEST_DATABASE_URL.

mod accessibility;
mod all_tokens;
mod audit;
mod auth_matrix;
mod backup;
mod browser;
mod browser_passkeys;
mod command_line;
mod contact_email;
mod database;
mod deployment;
mod failover;
mod faults;
mod forward_auth;
mod freshness;
mod hardening;
mod helpers;
mod introspection;
mod json_api;
mod leaks;
mod lifecycle;
mod limits;
mod logs;
mod notices;
mod operations;
mod passkeys;
mod pgbouncer;
mod policies;
mod prometheus;
mod proxy;
mod receivers;
mod security;
mod statistics;
mod store;
mod token_on_token;
mod two_factor;
mod ui_accounts;
mod ui_session;
mod ui_tokens;
mod upgrades;
mod usage;
