//! Named channels from the reactors to the application: the hand-off
//! queues (each with its own workers and bound) and the WebSocket event
//! streams. Declared before the server starts; looked up by name per
//! request, in a list short enough that a scan beats a hash.

use std::borrow::Cow;

use super::queue::{self, Receiver, Sender};

/// Channels to declare: a name and a bound (`None`: unbounded).
pub(crate) type Declared = [(Cow<'static, str>, Option<usize>)];

/// Each channel's receiving end, by name.
pub(crate) type Receivers<T> = Vec<(Cow<'static, str>, Receiver<T>)>;

/// Every declared channel's sending end, in declaration order.
#[derive(Debug)]
pub(crate) struct Outlets<T> {
    senders: Vec<(Cow<'static, str>, Sender<T>)>,
}

impl<T> Clone for Outlets<T> {
    fn clone(&self) -> Self {
        Outlets {
            senders: self.senders.clone(),
        }
    }
}

impl<T> Outlets<T> {
    /// Opens one channel per `(name, bound)` (`None`: unbounded) and
    /// returns the senders and the receivers, named alike.
    pub fn open(declared: &Declared) -> (Self, Receivers<T>) {
        let mut senders = Vec::with_capacity(declared.len());
        let mut receivers = Vec::with_capacity(declared.len());
        for (name, bound) in declared {
            let (tx, rx) = queue::channel(*bound);
            senders.push((name.clone(), tx));
            receivers.push((name.clone(), rx));
        }
        (Outlets { senders }, receivers)
    }

    /// The channel named `name`, if it was declared.
    pub fn get(&self, name: &str) -> Option<&Sender<T>> {
        self.find(name).map(|(_, tx)| tx)
    }

    /// The channel named `name` with its place in declaration order.
    pub fn find(&self, name: &str) -> Option<(usize, &Sender<T>)> {
        self.senders
            .iter()
            .enumerate()
            .find(|(_, (n, _))| n == name)
            .map(|(index, (_, tx))| (index, tx))
    }
}

/// The channel named `default` (which always exists) with `bound`, then
/// `declared` on top: a declaration of `default` itself replaces its bound.
pub(crate) fn with_default(
    default: &'static str,
    bound: Option<usize>,
    declared: Vec<(Cow<'static, str>, Option<usize>)>,
) -> Vec<(Cow<'static, str>, Option<usize>)> {
    let mut all = vec![(Cow::Borrowed(default), bound)];
    for (name, bound) in declared {
        declare(&mut all, name, bound);
    }
    all
}

/// Declares `name` with `bound` in `declared`, replacing an earlier
/// declaration of the same name.
pub(crate) fn declare(
    declared: &mut Vec<(Cow<'static, str>, Option<usize>)>,
    name: Cow<'static, str>,
    bound: Option<usize>,
) {
    match declared.iter_mut().find(|(n, _)| *n == name) {
        Some(entry) => entry.1 = bound,
        None => declared.push((name, bound)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_name_reaches_its_own_channel() {
        let mut declared = Vec::new();
        declare(&mut declared, "a".into(), Some(1));
        declare(&mut declared, "b".into(), None);
        declare(&mut declared, "a".into(), Some(2));
        let (outlets, receivers) = Outlets::<u32>::open(&declared);
        assert_eq!(receivers.len(), 2);
        outlets.get("a").unwrap().try_send(1).unwrap();
        outlets.get("a").unwrap().try_send(2).unwrap();
        assert!(outlets.get("a").unwrap().try_send(3).is_err(), "bound 2");
        outlets.get("b").unwrap().send(9).unwrap();
        assert!(outlets.get("c").is_none());
        assert_eq!(receivers[0].1.try_recv(), Ok(1));
        assert_eq!(receivers[1].1.try_recv(), Ok(9));
    }
}
