//! Single flight for introspection (one request per token however many
//! callers ask at once), bounded: an entry leaves the map when its last
//! waiter goes, finished or dropped, and past the bound a new token is
//! introspected on its own.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;
use warden_core::sync::lock;
use warden_core::{AuthError, Principal};

/// The shared answer of one flight.
pub(crate) type Answer = Arc<OnceCell<Result<Principal, AuthError>>>;

/// The flights in progress, by token hash.
#[derive(Default)]
pub(crate) struct Flights {
    map: Mutex<HashMap<[u8; 32], Answer>>,
}

impl Flights {
    /// How many tokens are in flight.
    pub(crate) fn len(&self) -> usize {
        lock(&self.map).len()
    }
}

/// A caller's share of a single-flight entry. Dropping the last share (the
/// answer came, or every waiter was dropped) removes the entry.
pub(crate) struct InFlight<'a> {
    flights: &'a Flights,
    key: [u8; 32],
    pub(crate) cell: Answer,
}

impl<'a> InFlight<'a> {
    /// Joins (or opens) the flight for `key`; `None` when the map is full.
    pub(crate) fn join(flights: &'a Flights, key: [u8; 32], max: usize) -> Option<Self> {
        let mut map = lock(&flights.map);
        let cell = match map.get(&key) {
            Some(cell) => cell.clone(),
            None if map.len() >= max => return None,
            None => map.entry(key).or_default().clone(),
        };
        Some(Self { flights, key, cell })
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let mut map = lock(&self.flights.map);
        // Shares are taken and dropped under the lock: two references left
        // means the map's and this one, so this is the last waiter.
        if map
            .get(&self.key)
            .is_some_and(|c| Arc::ptr_eq(c, &self.cell) && Arc::strong_count(c) == 2)
        {
            map.remove(&self.key);
        }
    }
}
