//! Locks shared between the threads of a push or pull.

use std::sync::{Mutex, MutexGuard};

/// Locks `mutex`, ignoring poisoning: a panic while holding one of the crate's locks aborts the
/// process (the tools build with `panic = "abort"`), so a poisoned lock is only seen in tests,
/// and the data it guards is still consistent for every use in this crate.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The value inside `mutex`, poisoned or not (see [`lock`]).
pub(crate) fn into_inner<T>(mutex: Mutex<T>) -> T {
    mutex
        .into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
