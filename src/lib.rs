//! whm-tokens: an API-token manager that behaves like cPanel WHM's
//! *Manage API Tokens*, with a WHM API 1 compatible JSON API.

pub mod auth;
pub mod cli;
pub mod config;
pub mod db;
pub mod domain;
pub mod log_writer;
pub mod metrics;
pub mod notices;
pub mod ops;
pub mod private_files;
pub mod startup;
pub mod state;
pub mod web;
