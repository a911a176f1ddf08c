//! tend-core: what tend's programs share: service dirs and their settings, the supervise
//! dir (both sides), the 20-byte status record, TAI64N labels and the control letters.
#![deny(missing_docs)]

pub mod cmd;
pub mod control;
pub mod error;
pub mod info;
pub mod policy;
pub mod procstat;
pub mod report;
pub mod scan;
pub mod signals;
pub mod spawn;
pub mod status;
pub mod supervise;
pub mod supervisor;
pub mod svdir;
pub mod tai;
pub mod timer;

pub use error::{Ctx, Error};
