//! Connection buffers, lent from a reactor-wide pool while in use.
//!
//! An idle keep-alive connection holds no buffer: it takes one when bytes
//! arrive or a response is queued and gives it back once empty. A busy
//! connection keeps reusing the same one, so the steady state allocates
//! nothing.

/// Size of a pooled buffer.
pub(crate) const BUFFER_BYTES: usize = 16 * 1024;
/// Most buffers kept in the pool; more are freed.
const POOL_MAX: usize = 256;
/// Buffers that grew past this are freed rather than pooled.
const POOL_KEEP_MAX_BYTES: usize = 4 * BUFFER_BYTES;

/// Free buffers. A buffer keeps its length (initialised bytes) in the pool, so
/// input buffers are zero-filled once in their life, not once per read.
#[derive(Debug, Default)]
pub(crate) struct BufferPool {
    free: Vec<Vec<u8>>,
}

impl BufferPool {
    /// A buffer with capacity for at least [`BUFFER_BYTES`]; its contents are
    /// unspecified (output users clear it).
    pub fn take(&mut self) -> Vec<u8> {
        self.free
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(BUFFER_BYTES))
    }

    /// Returns a buffer.
    pub fn give(&mut self, buf: Vec<u8>) {
        if buf.capacity() == 0
            || buf.capacity() > POOL_KEEP_MAX_BYTES
            || self.free.len() >= POOL_MAX
        {
            return;
        }
        self.free.push(buf);
    }
}

/// Unparsed input: bytes `start..end` of `buf` wait to be parsed; `buf.len()`
/// is how much of it was ever initialised.
#[derive(Debug, Default)]
pub(crate) struct InBuf {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl InBuf {
    /// The waiting bytes.
    pub fn data(&self) -> &[u8] {
        self.buf.get(self.start..self.end).unwrap_or(&[])
    }

    pub fn len(&self) -> usize {
        self.end - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Marks `n` waiting bytes parsed.
    pub fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.end);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Drops every waiting byte.
    pub fn clear(&mut self) {
        self.start = 0;
        self.end = 0;
    }

    /// Room to read into, such that no more than `limit` bytes wait in
    /// total; empty when the limit is reached. Call [`InBuf::commit`] with
    /// what was read.
    pub fn spare(&mut self, pool: &mut BufferPool, limit: usize) -> &mut [u8] {
        if self.buf.capacity() == 0 {
            self.buf = pool.take();
        }
        if self.start > 0 {
            // Move the waiting bytes to the front to reuse the parsed space.
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let room = limit.saturating_sub(self.len());
        let want = room.min(BUFFER_BYTES.max(self.buf.capacity() - self.end));
        if self.buf.len() < self.end + want {
            // Reading needs initialised memory; this fills only bytes never
            // used before.
            self.buf.resize(self.end + want, 0);
        }
        &mut self.buf[self.end..self.end + want]
    }

    /// Keeps `n` bytes read into the last [`InBuf::spare`].
    pub fn commit(&mut self, n: usize) {
        self.end = (self.end + n).min(self.buf.len());
    }

    /// Gives the buffer back to the pool when nothing waits in it.
    pub fn release_if_empty(&mut self, pool: &mut BufferPool) {
        if self.is_empty() && self.buf.capacity() > 0 {
            pool.give(std::mem::take(&mut self.buf));
            self.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spare_respects_the_limit_and_commit_keeps_what_was_read() {
        let mut pool = BufferPool::default();
        let mut input = InBuf::default();
        let spare = input.spare(&mut pool, 10);
        assert_eq!(spare.len(), 10);
        spare[..4].copy_from_slice(b"abcd");
        input.commit(4);
        assert_eq!(input.data(), b"abcd");
        assert_eq!(input.spare(&mut pool, 10).len(), 6);
        input.consume(2);
        assert_eq!(input.data(), b"cd");
        let spare = input.spare(&mut pool, 4);
        assert_eq!(spare.len(), 2);
        spare.copy_from_slice(b"ef");
        input.commit(2);
        assert_eq!(input.data(), b"cdef");
    }

    #[test]
    fn buffers_go_back_to_the_pool_when_empty() {
        let mut pool = BufferPool::default();
        let mut input = InBuf::default();
        input.spare(&mut pool, 100);
        input.commit(3);
        input.release_if_empty(&mut pool);
        assert!(pool.free.is_empty(), "a buffer holding data stays");
        input.consume(3);
        input.release_if_empty(&mut pool);
        assert_eq!(pool.free.len(), 1);
        let again = pool.take();
        assert!(again.capacity() >= BUFFER_BYTES);
    }
}
