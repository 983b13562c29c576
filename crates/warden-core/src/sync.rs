//! Small helpers every crate of warden needs, defined once: locks that
//! survive a poisoned mutex (a panic elsewhere must not turn every later
//! request into a panic), a guard that runs a closure when dropped (to stop
//! a background task with its owner), and jittered exponential backoff.

use std::fmt;
use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

/// Locks `m`, taking the data of a poisoned mutex as it is.
pub fn lock<T: ?Sized>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Read-locks `l`, taking the data of a poisoned lock as it is.
pub fn read<T: ?Sized>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|e| e.into_inner())
}

/// Write-locks `l`, taking the data of a poisoned lock as it is.
pub fn write<T: ?Sized>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|e| e.into_inner())
}

/// Runs its closure once, when dropped: a background task stops with the
/// value that owns it (`OnDrop::new(move || handle.abort())`).
pub struct OnDrop(Option<Box<dyn FnOnce() + Send + Sync>>);

impl OnDrop {
    /// A guard that runs `f` when dropped.
    pub fn new(f: impl FnOnce() + Send + Sync + 'static) -> Self {
        Self(Some(Box::new(f)))
    }
}

impl fmt::Debug for OnDrop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OnDrop")
    }
}

impl Drop for OnDrop {
    fn drop(&mut self) {
        if let Some(f) = self.0.take() {
            f();
        }
    }
}

/// The delay before retry number `failures` (1 for the first): `min`
/// doubling per failure up to `max`, then jittered over its upper half
/// (`[d/2, d]`), so that replicas that failed together do not retry
/// together.
///
/// ```
/// use std::time::Duration;
/// let d = warden_core::sync::backoff(Duration::from_secs(1), Duration::from_secs(30), 3);
/// assert!(d >= Duration::from_secs(2) && d <= Duration::from_secs(4));
/// let capped = warden_core::sync::backoff(Duration::from_secs(1), Duration::from_secs(30), 60);
/// assert!(capped <= Duration::from_secs(30));
/// ```
pub fn backoff(min: Duration, max: Duration, failures: u32) -> Duration {
    let exp = failures.saturating_sub(1).min(16);
    let base = min.saturating_mul(1 << exp).min(max.max(min));
    base.mul_f64(0.5 + fastrand::f64() * 0.5)
}
