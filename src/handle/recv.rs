//! Receive errors handed to applications as std's own types, which every
//! Rust user already matches on, whatever channel sits underneath.

use std::sync::mpsc;

/// crossbeam's timeout error as std's.
pub(crate) fn timeout_error(err: crossbeam_channel::RecvTimeoutError) -> mpsc::RecvTimeoutError {
    match err {
        crossbeam_channel::RecvTimeoutError::Disconnected => mpsc::RecvTimeoutError::Disconnected,
        crossbeam_channel::RecvTimeoutError::Timeout => mpsc::RecvTimeoutError::Timeout,
    }
}

/// crossbeam's try-receive error as std's.
pub(crate) fn try_error(err: crossbeam_channel::TryRecvError) -> mpsc::TryRecvError {
    match err {
        crossbeam_channel::TryRecvError::Disconnected => mpsc::TryRecvError::Disconnected,
        crossbeam_channel::TryRecvError::Empty => mpsc::TryRecvError::Empty,
    }
}
