//! Patient master index (患者主索引) and the resident health record (健康档案, 健康360视图).
//!
//! Every way a person enters the platform (form, import, API; later HL7 and FHIR) calls
//! [`service::register`], so one human is one person. Matching is done by the pure
//! `yiyang-mpi` engine; this module stores persons, block keys, the index history,
//! versioned configurations and trained models, and the health record.

pub mod api;
pub mod dashboard;
pub mod demo;
pub mod encounter_pages;
pub mod encounters;
pub mod errors;
pub mod import;
pub mod matching;
pub mod pages;
pub mod record;
pub mod schema;
pub mod service;

mod module;

pub use module::{PatientsConfig, PatientsModule};
