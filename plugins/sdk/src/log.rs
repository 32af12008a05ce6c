//! Messages for the run log.

use crate::bindings::easel::canvas::log::{Level, log};

/// Debug detail.
pub fn debug(message: impl AsRef<str>) {
    log(Level::Debug, message.as_ref());
}

/// Progress an admin would want to see.
pub fn info(message: impl AsRef<str>) {
    log(Level::Info, message.as_ref());
}

/// Something odd that did not stop the run.
pub fn warn(message: impl AsRef<str>) {
    log(Level::Warn, message.as_ref());
}

/// Something that failed.
pub fn error(message: impl AsRef<str>) {
    log(Level::Error, message.as_ref());
}
