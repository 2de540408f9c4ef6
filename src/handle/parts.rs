//! The one byte-budgeted queue of parts a producer fills and the reactor
//! drains: a streaming response's parts and a WebSocket's frames. It counts
//! its bytes (a part's unwritten rest included) and may hand out its front
//! part in slices; what a part's bytes are charged against stays with its
//! owner, told through a tag on each part.

use std::collections::VecDeque;

use bytes::Bytes;

/// Parts waiting for the reactor, each with a tag (`()` for a stream's;
/// for a WebSocket's frame, whether it is the socket's own).
#[derive(Debug)]
pub(crate) struct Parts<T> {
    queue: VecDeque<(Bytes, T)>,
    /// Bytes queued: the unwritten rest of a part in transit included.
    bytes: usize,
    /// The front part is partly taken: it can neither be dropped nor be
    /// interrupted.
    in_transit: bool,
}

impl<T> Default for Parts<T> {
    fn default() -> Self {
        Parts {
            queue: VecDeque::new(),
            bytes: 0,
            in_transit: false,
        }
    }
}

impl<T: Copy> Parts<T> {
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// The front part is partly taken.
    pub fn is_in_transit(&self) -> bool {
        self.in_transit
    }

    /// True when `len` more bytes stay within `budget`. Compared with what
    /// is left, never added: no wraparound.
    pub fn fits(&self, len: usize, budget: usize) -> bool {
        len <= budget.saturating_sub(self.bytes)
    }

    pub fn push(&mut self, part: Bytes, tag: T) {
        self.bytes += part.len();
        self.queue.push_back((part, tag));
    }

    /// Takes the newest part, unless it is in transit.
    pub fn pop_newest(&mut self) -> Option<(Bytes, T)> {
        if self.in_transit && self.queue.len() == 1 {
            return None;
        }
        let newest = self.queue.pop_back()?;
        self.bytes -= newest.0.len();
        Some(newest)
    }

    /// Takes the oldest part that is not in transit.
    pub fn pop_oldest(&mut self) -> Option<(Bytes, T)> {
        let oldest = self.queue.remove(usize::from(self.in_transit))?;
        self.bytes -= oldest.0.len();
        Some(oldest)
    }

    /// Takes whole parts until `max_bytes` are taken (at least one part,
    /// however large), or only one when `one`. `taken` hears of each.
    pub fn take_whole(&mut self, max_bytes: usize, one: bool, mut taken: impl FnMut(Bytes, T)) {
        debug_assert!(!self.in_transit, "whole parts only");
        let mut total = 0;
        while let Some((part, tag)) = self.queue.pop_front() {
            self.bytes -= part.len();
            total += part.len();
            taken(part, tag);
            if one || total >= max_bytes {
                break;
            }
        }
    }

    /// Takes up to `room` bytes: whole parts, then a slice of the next one
    /// if it does not fit (its rest stays queued, in transit). Slices share
    /// the part's memory. `taken` hears of each piece.
    pub fn take_sliced(&mut self, mut room: usize, mut taken: impl FnMut(Bytes, T)) {
        while room > 0 {
            let Some((front, tag)) = self.queue.front_mut() else {
                break;
            };
            let tag = *tag;
            let piece = if front.len() <= room {
                self.in_transit = false;
                self.queue
                    .pop_front()
                    .map(|(part, _)| part)
                    .unwrap_or_default()
            } else {
                self.in_transit = true;
                front.split_to(room)
            };
            room -= piece.len();
            self.bytes -= piece.len();
            taken(piece, tag);
        }
    }

    /// The unwritten rest of the part in transit, taken off the queue.
    pub fn take_in_transit(&mut self) -> Option<(Bytes, T)> {
        if !std::mem::take(&mut self.in_transit) {
            return None;
        }
        let rest = self.queue.pop_front()?;
        self.bytes -= rest.0.len();
        Some(rest)
    }

    pub fn clear(&mut self) {
        self.queue.clear();
        self.bytes = 0;
        self.in_transit = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(n: usize) -> Bytes {
        Bytes::from(vec![b'x'; n])
    }

    #[test]
    fn slices_keep_the_rest_in_transit_and_counted() {
        let mut parts = Parts::default();
        parts.push(part(10), 'a');
        parts.push(part(10), 'b');
        let mut got = Vec::new();
        parts.take_sliced(14, |piece, tag| got.push((piece.len(), tag)));
        assert_eq!(got, [(10, 'a'), (4, 'b')]);
        assert!(parts.is_in_transit());
        assert_eq!(parts.bytes(), 6);
        assert!(parts.pop_newest().is_none(), "the part in transit stays");
        assert!(parts.pop_oldest().is_none(), "the part in transit stays");
        let rest = parts.take_in_transit().unwrap();
        assert_eq!((rest.0.len(), rest.1, parts.bytes()), (6, 'b', 0));
    }

    #[test]
    fn whole_parts_are_taken_to_the_bound_and_at_least_one() {
        let mut parts = Parts::default();
        for n in [50, 50, 50] {
            parts.push(part(n), ());
        }
        let mut taken = 0;
        parts.take_whole(10, false, |p, ()| taken += p.len());
        assert_eq!((taken, parts.bytes()), (50, 100), "one part past the bound");
        parts.take_whole(usize::MAX, true, |p, ()| taken += p.len());
        assert_eq!((taken, parts.bytes()), (100, 50), "one, when asked");
    }

    #[test]
    fn fits_compares_with_what_is_left() {
        let mut parts = Parts::default();
        parts.push(part(90), ());
        assert!(parts.fits(10, 100));
        assert!(!parts.fits(11, 100));
        assert!(!parts.fits(usize::MAX, 100), "no wraparound");
    }
}
