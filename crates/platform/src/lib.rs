//! Platform services shared by every module: identity, access control, audit, masking,
//! field encryption, jobs, notifications, and the web shell (layout, auth middleware,
//! error pages, metrics).

pub mod audit;
pub mod crypto;
pub mod errors;
pub mod identity;
pub mod jobs;
pub mod masking;
pub mod module;
pub mod notify;
pub mod oauth;
pub mod paging;
pub mod password;
pub mod platform_module;
pub mod privacy;
pub mod schema;
pub mod settings;
#[cfg(feature = "testing")]
pub mod testing;
pub mod web;

pub use platform_module::PlatformModule;
