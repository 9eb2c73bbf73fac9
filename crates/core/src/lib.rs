//! Core types shared by every Yiyang crate: the error contract, the clock, the request
//! context that carries actor and data scope, permissions and validated identifiers.

pub mod clock;
pub mod context;
pub mod error;
pub mod idnumber;
pub mod par;
pub mod perm;
pub mod text;

pub use clock::{Clock, FixedClock, SystemClock};
pub use context::{Actor, ActorKind, RequestContext, Scope};
pub use error::{AppError, AppResult};
