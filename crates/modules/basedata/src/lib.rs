//! Base data (慧医养基础信息管理 §5.1–5.2): institutions, departments and staff, entered,
//! reviewed and then shown (录入 → 审核 → 展示), with CSV/XLSX bulk import and a job that
//! warns before a practising licence expires.

pub mod api;
pub mod dashboard;
pub mod departments;
pub mod errors;
pub mod import;
pub mod pages;
pub mod schema;
pub mod service;

mod module;

pub use module::BasedataModule;
