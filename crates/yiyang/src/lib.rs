//! The `yiyang` binary's library half: config, wiring, server, demo seed — shared by
//! `main.rs` and the integration tests.

pub mod api;
pub mod app;
pub mod config;
pub mod errors;
pub mod home;
pub mod keys;
pub mod seed;
pub mod server;
