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
pub mod engine;
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

use yiyang_platform::web::NavItem;

/// Navigation entries of this module.
pub fn nav() -> Vec<NavItem> {
    use yiyang_core::perm;
    vec![
        NavItem {
            href: "/integration/channels",
            label: "系统接入管理",
            group: "集成平台",
            permission: Some(perm::INTEGRATION_READ),
            icon: "plug",
        },
        NavItem {
            href: "/integration/monitor",
            label: "服务监控",
            group: "集成平台",
            permission: Some(perm::INTEGRATION_READ),
            icon: "monitor",
        },
        NavItem {
            href: "/integration/messages",
            label: "消息查询",
            group: "集成平台",
            permission: Some(perm::INTEGRATION_READ),
            icon: "message",
        },
        NavItem {
            href: "/integration/errors",
            label: "异常消息队列",
            group: "集成平台",
            permission: Some(perm::INTEGRATION_READ),
            icon: "alert",
        },
        NavItem {
            href: "/integration/critical-routes",
            label: "危急值通知规则",
            group: "集成平台",
            permission: Some(perm::INTEGRATION_READ),
            icon: "settings",
        },
        NavItem {
            href: "/integration/subscriptions",
            label: "发布订阅",
            group: "集成平台",
            permission: Some(perm::INTEGRATION_READ),
            icon: "send",
        },
        NavItem {
            href: "/integration/alerts",
            label: "危急值提醒",
            group: "集成平台",
            permission: Some(perm::PATIENT_READ),
            icon: "heart",
        },
        NavItem {
            href: "/integration/orders",
            label: "检查检验申请单",
            group: "集成平台",
            permission: Some(perm::PATIENT_READ),
            icon: "list",
        },
        NavItem {
            href: "/integration/appointments",
            label: "预约挂号",
            group: "集成平台",
            permission: Some(perm::PATIENT_READ),
            icon: "clock",
        },
    ]
}
