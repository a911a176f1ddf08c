//! tend-logger: the engine of tend-log.
#![deny(missing_docs)]
