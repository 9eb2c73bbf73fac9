//! Integration engine (集成平台, issue 4): HL7 v2 channels over MLLP (系统接入管理), a durable
//! message store written before every ACK, processing of ADT/ORU into the patient index and
//! health record, critical-value alerts (危急值), an error queue with edit-and-replay, and
//! monitoring (服务监控).
//!
//! `channels` (configuration) · `engine` (store → dedupe → process → ACK, replay) ·
//! `process` (message → patients module) · `listener` (MLLP supervisor) · `outbound`
//! (发布订阅: subscriptions, delivery queue, MLLP/webhook senders) · `api` · `pages`.

pub mod api;
pub mod channels;
pub mod critical;
pub mod critical_pages;
pub mod dashboard;
pub mod demo;
pub mod engine;
pub mod errors;
pub mod listener;
pub mod messages;
pub mod outbound;
pub mod outbound_api;
pub mod outbound_pages;
pub mod pages;
pub mod pipeline;
pub mod process;
pub mod schema;
pub mod tls;

mod module;

pub use module::{IntegrationConfig, IntegrationModule};
