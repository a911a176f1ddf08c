//! tend-logger: the engine of tend-log: reading lines, stamping them, writing the logdir's
//! `current`, rotating it into archives, and keeping the retention limits.
#![deny(missing_docs)]

pub mod clock;
pub mod config;
pub mod configfile;
pub mod engine;
pub mod input;
pub mod logdir;
pub mod pagebuf;
pub mod pattern;
pub mod privs;
pub mod run;
pub mod scan;
pub mod signals;
pub mod stamp;

pub use clock::{Clock, SystemClock};
pub use config::{Config, Policy};
pub use engine::Logger;
pub use stamp::Format;
