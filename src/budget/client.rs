//! A client's share of the memory budget.
//!
//! One client — one IP address, or one IPv6 /64, what one host is usually
//! given — may open many connections; per-connection limits do not stop it
//! holding the whole server-wide budget (260 nearly complete bodies did).
//! So what its connections hold is also counted per client, and once the
//! budget is more than half spent a client grows only to an equal share
//! among the clients holding bytes *plus one*: room is always left for a
//! newcomer, and the largest holders are the ones refused.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::{AcqRel, Acquire};
use std::sync::{Arc, Mutex, Weak};

/// The bytes one client's connections hold against the budget.
#[derive(Debug)]
pub(crate) struct Client {
    held: AtomicU64,
    /// How many clients hold any bytes now (shared by all of them).
    holding: Arc<AtomicU64>,
}

impl Client {
    /// Whether this client may hold `more` bytes when the server holds
    /// `held` of `limit`.
    pub fn may_grow(&self, more: u64, held: u64, limit: u64) -> bool {
        if more <= (limit / 2).saturating_sub(held) {
            return true;
        }
        let mine = self.held.load(Acquire);
        let others = self
            .holding
            .load(Acquire)
            .saturating_sub(u64::from(mine > 0));
        let share = limit / others.saturating_add(2);
        more <= share.saturating_sub(mine)
    }

    pub fn grow(&self, more: u64) {
        if self.held.fetch_add(more, AcqRel) == 0 && more > 0 {
            self.holding.fetch_add(1, AcqRel);
        }
    }

    pub fn shrink(&self, less: u64) {
        if less > 0 && self.held.fetch_sub(less, AcqRel) == less {
            self.holding.fetch_sub(1, AcqRel);
        }
    }

    #[cfg(test)]
    pub fn held(&self) -> u64 {
        self.held.load(Acquire)
    }
}

/// Every client with a connection open, server-wide, by address.
#[derive(Debug, Default)]
pub(crate) struct Clients {
    holding: Arc<AtomicU64>,
    known: Mutex<Known>,
}

#[derive(Debug, Default)]
struct Known {
    by_address: HashMap<IpAddr, Weak<Client>>,
    /// Entries left after the last sweep of clients that are gone; the
    /// next sweep comes when the map has doubled since.
    after_sweep: usize,
}

impl Clients {
    /// The client a connection from `peer` belongs to.
    pub fn client(&self, peer: IpAddr) -> Arc<Client> {
        let address = key(peer);
        let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(client) = known.by_address.get(&address).and_then(Weak::upgrade) {
            return client;
        }
        let client = Arc::new(Client {
            held: AtomicU64::new(0),
            holding: Arc::clone(&self.holding),
        });
        known.by_address.insert(address, Arc::downgrade(&client));
        if known.by_address.len() > known.after_sweep.saturating_mul(2).max(64) {
            // Bounded by twice the clients connected now.
            known
                .by_address
                .retain(|_, client| client.strong_count() > 0);
            known.after_sweep = known.by_address.len();
        }
        client
    }

    #[cfg(test)]
    fn known(&self) -> usize {
        self.known.lock().unwrap().by_address.len()
    }
}

/// A client's address: an IPv6 address to its /64 (one host's usual
/// allocation), an IPv4-mapped one as the IPv4 address it is.
fn key(peer: IpAddr) -> IpAddr {
    match peer {
        IpAddr::V4(_) => peer,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !u128::from(u64::MAX)).into()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: u64 = 1200;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn a_lone_client_grows_freely_to_half_then_to_its_share_of_two() {
        let clients = Clients::default();
        let a = clients.client(ip("10.0.0.1"));
        assert!(a.may_grow(600, 0, LIMIT), "uncontended up to half");
        a.grow(600);
        // Past half: a lone client's share is half, leaving half for a
        // newcomer.
        assert!(!a.may_grow(1, 600, LIMIT));
        let b = clients.client(ip("10.0.0.2"));
        assert!(b.may_grow(400, 600, LIMIT), "a third of the budget");
        assert!(!b.may_grow(401, 600, LIMIT));
    }

    #[test]
    fn the_share_shrinks_as_clients_hold_bytes_and_grows_as_they_let_go() {
        let clients = Clients::default();
        let all: Vec<_> = (1..=3)
            .map(|i| clients.client(ip(&format!("10.0.0.{i}"))))
            .collect();
        for client in &all {
            client.grow(200);
        }
        // 600 held by three: each may have a quarter (300).
        assert!(all[0].may_grow(100, 600, LIMIT));
        assert!(!all[0].may_grow(101, 600, LIMIT));
        all[1].shrink(200);
        all[2].shrink(200);
        assert_eq!(all[0].held(), 200);
        assert!(all[0].may_grow(400, 200, LIMIT), "alone again: half");
    }

    #[test]
    fn connections_from_one_address_or_one_ipv6_slash_64_share_a_client() {
        let clients = Clients::default();
        let a = clients.client(ip("10.0.0.1"));
        assert!(Arc::ptr_eq(&a, &clients.client(ip("10.0.0.1"))));
        assert!(Arc::ptr_eq(&a, &clients.client(ip("::ffff:10.0.0.1"))));
        assert!(!Arc::ptr_eq(&a, &clients.client(ip("10.0.0.2"))));
        let v6 = clients.client(ip("2001:db8:1:2::1"));
        assert!(Arc::ptr_eq(
            &v6,
            &clients.client(ip("2001:db8:1:2:ffff::9"))
        ));
        assert!(!Arc::ptr_eq(&v6, &clients.client(ip("2001:db8:1:3::1"))));
    }

    #[test]
    fn gone_clients_are_swept_so_the_map_stays_bounded() {
        let clients = Clients::default();
        let kept = clients.client(ip("10.0.0.1"));
        for i in 0..10_000u32 {
            drop(clients.client(IpAddr::V4((0x0b00_0000 + i).into())));
        }
        assert!(clients.known() <= 130, "{}", clients.known());
        assert!(Arc::ptr_eq(&kept, &clients.client(ip("10.0.0.1"))));
    }

    #[test]
    fn near_the_top_of_u64_nothing_wraps() {
        let clients = Clients::default();
        let a = clients.client(ip("10.0.0.1"));
        a.grow(u64::MAX - 1);
        assert!(!a.may_grow(u64::MAX, u64::MAX - 1, u64::MAX));
        assert!(!a.may_grow(2, u64::MAX - 1, u64::MAX));
    }
}
