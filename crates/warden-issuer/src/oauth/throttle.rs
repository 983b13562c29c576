//! The slowdown after repeated sign-in failures (RFC 6749 §10.10,
//! <https://www.rfc-editor.org/rfc/rfc6749#section-10.10>, and NIST SP
//! 800-63B §5.2.2, rate limiting): after [`FREE_FAILURES`] failures for a
//! user, or from an address, within [`WINDOW`], each further attempt waits,
//! one second doubling up to [`MAX_WAIT`].
//!
//! An attempt is counted as a failure as it starts, and taken back when it
//! succeeds: attempts sent in parallel queue behind one another's counts
//! instead of all waiting the same second. A success forgets the user's
//! failures but not the address's (one good account must not reset the
//! count of an address guessing at others). Users and addresses are kept
//! by a 128-bit digest, so an entry has a fixed size, and the table is
//! bounded: when full, expired entries go first, then the entry with the
//! fewest failures (an attacker's own high counts are the last to go).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use aws_lc_rs::digest;

use crate::state::lock;

/// Failures allowed within the window before attempts wait.
pub(crate) const FREE_FAILURES: u32 = 5;
/// The window failures are counted in.
pub(crate) const WINDOW: Duration = Duration::from_secs(15 * 60);
/// The first wait; each further failure doubles it.
pub(crate) const FIRST_WAIT: Duration = Duration::from_secs(1);
/// The longest wait.
pub(crate) const MAX_WAIT: Duration = Duration::from_secs(30);
/// How many users and addresses are tracked at most.
pub(crate) const CAPACITY: usize = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Key {
    User([u8; 16]),
    /// An IPv4 address, or an IPv6 /64 (one host's usual allotment).
    Net([u8; 16]),
}

impl Key {
    fn user(name: &str) -> Self {
        let d = digest::digest(&digest::SHA256, name.as_bytes());
        let mut k = [0u8; 16];
        k.copy_from_slice(&d.as_ref()[..16]);
        Key::User(k)
    }

    fn net(addr: IpAddr) -> Self {
        let mut k = [0u8; 16];
        match addr.to_canonical() {
            IpAddr::V4(v4) => k[..4].copy_from_slice(&v4.octets()),
            IpAddr::V6(v6) => {
                k[..8].copy_from_slice(&v6.octets()[..8]);
                k[15] = 6;
            }
        }
        Key::Net(k)
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    since: SystemTime,
}

/// The wait before an attempt that follows `failures` failures.
pub(crate) fn wait_after(failures: u32) -> Duration {
    if failures < FREE_FAILURES {
        return Duration::ZERO;
    }
    let doublings = (failures - FREE_FAILURES).min(16);
    (FIRST_WAIT * 2u32.pow(doublings)).min(MAX_WAIT)
}

/// Sign-in failures by user and by address, bounded.
#[derive(Debug)]
pub(crate) struct Throttle {
    entries: Mutex<HashMap<Key, Entry>>,
    capacity: usize,
}

impl Default for Throttle {
    fn default() -> Self {
        Self::with_capacity(CAPACITY)
    }
}

impl Throttle {
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Self {
            entries: Mutex::default(),
            capacity: capacity.max(2),
        }
    }

    /// An attempt starts: how long it waits before it is judged. It counts
    /// as a failure until [`succeeded`](Self::succeeded) says otherwise.
    pub(crate) fn attempt(&self, user: &str, addr: Option<IpAddr>, now: SystemTime) -> Duration {
        let mut entries = lock(&self.entries);
        let keys = [Some(Key::user(user)), addr.map(Key::net)];
        let mut wait = Duration::ZERO;
        for key in keys.into_iter().flatten() {
            let failures = self.bump(&mut entries, key, now);
            wait = wait.max(wait_after(failures));
        }
        wait
    }

    /// The attempt succeeded: the user's failures are forgotten, and this
    /// attempt is taken back from the address's count.
    pub(crate) fn succeeded(&self, user: &str, addr: Option<IpAddr>) {
        let mut entries = lock(&self.entries);
        entries.remove(&Key::user(user));
        if let Some(e) = addr.and_then(|a| entries.get_mut(&Key::net(a))) {
            e.failures = e.failures.saturating_sub(1);
        }
    }

    /// The number of users and addresses tracked.
    pub(crate) fn len(&self) -> usize {
        lock(&self.entries).len()
    }

    /// Counts one failure for `key`; the failures before it.
    fn bump(&self, entries: &mut HashMap<Key, Entry>, key: Key, now: SystemTime) -> u32 {
        let live = |e: &Entry| now.duration_since(e.since).is_ok_and(|age| age < WINDOW);
        if !entries.contains_key(&key) && entries.len() >= self.capacity {
            entries.retain(|_, e| live(e));
            if entries.len() >= self.capacity
                && let Some(victim) = entries
                    .iter()
                    .min_by_key(|(_, e)| (e.failures, e.since))
                    .map(|(k, _)| *k)
            {
                entries.remove(&victim);
            }
        }
        let e = entries.entry(key).or_insert(Entry {
            failures: 0,
            since: now,
        });
        if !live(e) {
            *e = Entry {
                failures: 0,
                since: now,
            };
        }
        let before = e.failures;
        e.failures = e.failures.saturating_add(1);
        before
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    const ALICE_AT: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 1)));

    fn t(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
    }

    #[test]
    fn waits_double_from_one_second_after_five_failures_up_to_thirty() {
        let waits: Vec<u64> = (0..12).map(|f| wait_after(f).as_secs()).collect();
        assert_eq!(waits, [0, 0, 0, 0, 0, 1, 2, 4, 8, 16, 30, 30]);
        assert_eq!(wait_after(u32::MAX), MAX_WAIT);
    }

    #[test]
    fn a_user_is_slowed_after_five_failures_and_a_success_resets_the_user() {
        let th = Throttle::default();
        let waits: Vec<u64> = (0..7)
            .map(|i| th.attempt("alice", None, t(i)).as_secs())
            .collect();
        assert_eq!(waits, [0, 0, 0, 0, 0, 1, 2]);
        th.succeeded("alice", None);
        assert_eq!(th.attempt("alice", None, t(10)), Duration::ZERO);
    }

    #[test]
    fn a_correct_password_after_a_wrong_one_does_not_wait() {
        let th = Throttle::default();
        assert_eq!(th.attempt("alice", ALICE_AT, t(0)), Duration::ZERO);
        // The wrong one stays counted; the next attempt (right) waits not.
        assert_eq!(th.attempt("alice", ALICE_AT, t(1)), Duration::ZERO);
        th.succeeded("alice", ALICE_AT);
    }

    #[test]
    fn an_address_is_slowed_whatever_users_it_tries_and_a_success_does_not_reset_it() {
        let th = Throttle::default();
        for i in 0..5 {
            assert_eq!(
                th.attempt(&format!("user-{i}"), ALICE_AT, t(i)),
                Duration::ZERO
            );
        }
        // The attacker's own account succeeds: the address is still slowed.
        assert_eq!(th.attempt("mallory", ALICE_AT, t(6)), FIRST_WAIT);
        th.succeeded("mallory", ALICE_AT);
        assert_eq!(th.attempt("user-9", ALICE_AT, t(7)), FIRST_WAIT);
        assert_eq!(th.attempt("user-10", ALICE_AT, t(8)), FIRST_WAIT * 2);
    }

    #[test]
    fn failures_older_than_the_window_are_forgotten() {
        let th = Throttle::default();
        for i in 0..6 {
            th.attempt("alice", None, t(i));
        }
        assert_eq!(th.attempt("alice", None, t(10)), FIRST_WAIT * 2);
        assert_eq!(
            th.attempt("alice", None, t(WINDOW.as_secs() + 1)),
            Duration::ZERO
        );
    }

    #[test]
    fn ipv6_addresses_count_by_their_64_bit_prefix() {
        let th = Throttle::default();
        for i in 0..5u16 {
            let a: IpAddr = format!("2001:db8::{i}").parse().unwrap();
            th.attempt(&format!("u{i}"), Some(a), t(0));
        }
        let other_host: IpAddr = "2001:db8::ffff".parse().unwrap();
        assert_eq!(th.attempt("u9", Some(other_host), t(1)), FIRST_WAIT);
        let other_net: IpAddr = "2001:db9::1".parse().unwrap();
        assert_eq!(th.attempt("u10", Some(other_net), t(1)), Duration::ZERO);
    }

    #[test]
    fn the_table_stays_bounded_and_keeps_the_heaviest_counts() {
        let th = Throttle::with_capacity(100);
        // An address guesses at many users: its own count survives the
        // flood of one-failure user entries it makes.
        for i in 0..10_000u64 {
            th.attempt(&format!("user-{i}"), ALICE_AT, t(i / 1000));
            assert!(th.len() <= 100);
        }
        assert_eq!(th.attempt("one-more", ALICE_AT, t(11)), MAX_WAIT);
    }
}
