//! Latency histograms the reactor and handles record into without a lock.
//!
//! Each sample lands twice: in fine log-linear buckets (eight per power of
//! two, so a bucket is at most 1/8 of its lower bound wide) that
//! [`Latency::quantile`] reads, and in the fixed OpenMetrics buckets that
//! [`Latency::buckets`] and the Prometheus text report. Two relaxed atomic
//! adds and a sum per sample; no lock, no allocation.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// OpenMetrics bucket upper bounds in microseconds, 50 µs to 10 s; one
/// more bucket holds everything slower.
const BOUNDS_US: [u64; 17] = [
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_500_000, 5_000_000, 10_000_000,
];
const BUCKETS: usize = BOUNDS_US.len() + 1;

/// Fine buckets per power of two (as a shift: 2^3 = 8).
const SUB_BITS: u32 = 3;
const SUB: usize = 1 << SUB_BITS;
/// The first power of two with buckets of its own: 2^9 ns = 512 ns. Faster
/// samples share bucket 0.
const LOW_POWER: u32 = 9;
/// Past the last: 2^38 ns ≈ 275 s. Slower samples share the last bucket.
const HIGH_POWER: u32 = 38;
const FINE: usize = 1 + (HIGH_POWER - LOW_POWER) as usize * SUB + 1;

/// The fine bucket holding `ns`.
fn fine_index(ns: u64) -> usize {
    if ns < 1 << LOW_POWER {
        return 0;
    }
    let power = 63 - ns.leading_zeros();
    if power >= HIGH_POWER {
        return FINE - 1;
    }
    let sub = ((ns >> (power - SUB_BITS)) as usize) & (SUB - 1);
    1 + (power - LOW_POWER) as usize * SUB + sub
}

/// The fine bucket `index`'s bounds in nanoseconds: `[low, high)`.
fn fine_bounds(index: usize) -> (u64, u64) {
    if index == 0 {
        return (0, 1 << LOW_POWER);
    }
    let power = LOW_POWER + ((index - 1) / SUB) as u32;
    let sub = ((index - 1) % SUB) as u64;
    let step = 1u64 << (power - SUB_BITS);
    ((SUB as u64 + sub) * step, (SUB as u64 + sub + 1) * step)
}

/// Where samples go.
#[derive(Debug)]
pub(crate) struct Recorder {
    buckets: [AtomicU64; BUCKETS],
    fine: [AtomicU64; FINE],
    sum_ns: AtomicU64,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            fine: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_ns: AtomicU64::new(0),
        }
    }
}

/// A sample's nanoseconds and its two buckets: (OpenMetrics, fine).
fn place(elapsed: Duration) -> (u64, usize, usize) {
    let ns = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
    let us = ns / 1_000;
    let index = BOUNDS_US.partition_point(|&bound| bound < us);
    (ns, index, fine_index(ns))
}

impl Recorder {
    pub fn observe(&self, elapsed: Duration) {
        let (ns, index, fine) = place(elapsed);
        self.buckets[index].fetch_add(1, Relaxed);
        self.fine[fine].fetch_add(1, Relaxed);
        self.sum_ns.fetch_add(ns, Relaxed);
    }

    /// Adds what `tally` counted since it was last absorbed, and empties it.
    pub fn absorb(&self, tally: &mut Tally) {
        let pairs = self.buckets.iter().zip(tally.buckets.iter_mut());
        for (to, from) in pairs.chain(self.fine.iter().zip(tally.fine.iter_mut())) {
            if *from != 0 {
                to.fetch_add(std::mem::take(from), Relaxed);
            }
        }
        self.sum_ns
            .fetch_add(std::mem::take(&mut tally.sum_ns), Relaxed);
    }

    pub fn read(&self) -> Latency {
        Latency {
            counts: std::array::from_fn(|i| self.buckets[i].load(Relaxed)),
            fine: self.fine.iter().map(|n| n.load(Relaxed)).collect(),
            sum_ns: self.sum_ns.load(Relaxed),
        }
    }
}

/// Samples counted by one thread without atomics, for a figure taken so
/// often (each reactor turn) that the thread adds them to its [`Recorder`]
/// only now and then.
#[derive(Debug)]
pub(crate) struct Tally {
    buckets: [u64; BUCKETS],
    fine: [u64; FINE],
    sum_ns: u64,
}

impl Default for Tally {
    fn default() -> Self {
        Tally {
            buckets: [0; BUCKETS],
            fine: [0; FINE],
            sum_ns: 0,
        }
    }
}

impl Tally {
    pub fn observe(&mut self, elapsed: Duration) {
        let (ns, index, fine) = place(elapsed);
        self.buckets[index] += 1;
        self.fine[fine] += 1;
        self.sum_ns = self.sum_ns.saturating_add(ns);
    }
}

/// A reading of one latency histogram: how many samples fell at or below
/// each bound, from 50 µs to 10 s, and quantiles to within 7%.
///
/// ```
/// use std::time::Duration;
/// let latency = tether::stats::Latency::default();
/// assert_eq!(latency.count(), 0);
/// assert_eq!(latency.quantile(0.99), None);
/// assert_eq!(latency.buckets().last(), Some((None, 0)));
/// # let _ = Duration::ZERO;
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Latency {
    counts: [u64; BUCKETS],
    /// Empty in a default reading (no samples).
    fine: Vec<u64>,
    sum_ns: u64,
}

impl Latency {
    /// Samples recorded.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// All samples added together.
    pub fn sum(&self) -> Duration {
        Duration::from_nanos(self.sum_ns)
    }

    /// Each OpenMetrics bucket's upper bound (`None`: no bound, the last)
    /// and the samples at or below it (cumulative, as OpenMetrics counts
    /// them): 50 µs, 100 µs, 250 µs, … 2.5 s, 5 s, 10 s, then the rest.
    pub fn buckets(&self) -> impl Iterator<Item = (Option<Duration>, u64)> + '_ {
        let bounds = BOUNDS_US
            .iter()
            .map(|&us| Some(Duration::from_micros(us)))
            .chain(std::iter::once(None));
        let mut below = 0u64;
        bounds.zip(self.counts.iter()).map(move |(bound, &n)| {
            below += n;
            (bound, below)
        })
    }

    /// Quantile `q` (0.5 for the median, 0.99 for p99): the middle of the
    /// fine bucket holding the sample of rank ⌈q·count⌉, within 1/16 (6.25%)
    /// of that sample from 512 ns to 275 s (a sample under 512 ns reads as
    /// 256 ns). `None` with no samples or when the sample is slower than
    /// 275 s.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        let count = self.count();
        if count == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * count as f64).ceil() as u64).max(1);
        let mut below = 0u64;
        let index = self.fine.iter().position(|&n| {
            below += n;
            below >= rank
        })?;
        if index == FINE - 1 {
            return None;
        }
        let (low, high) = fine_bounds(index);
        Some(Duration::from_nanos(low + (high - low) / 2))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_land_in_the_first_bucket_that_holds_them() {
        let recorder = Recorder::default();
        recorder.observe(Duration::from_micros(50));
        recorder.observe(Duration::from_micros(51));
        recorder.observe(Duration::from_millis(3));
        recorder.observe(Duration::from_secs(400));
        let latency = recorder.read();
        assert_eq!(latency.count(), 4);
        let buckets: Vec<_> = latency.buckets().collect();
        assert_eq!(buckets[0], (Some(Duration::from_micros(50)), 1));
        assert_eq!(buckets[1], (Some(Duration::from_micros(100)), 2));
        assert_eq!(buckets[6], (Some(Duration::from_millis(5)), 3));
        assert_eq!(buckets[15], (Some(Duration::from_secs(5)), 3));
        assert_eq!(buckets.last(), Some(&(None, 4)));
        assert_eq!(latency.quantile(1.0), None, "past the last fine bucket");
        assert_eq!(latency.sum(), Duration::from_nanos(400_003_101_000));
    }

    #[test]
    fn a_tally_absorbed_reads_as_if_observed_directly() {
        let (direct, absorbed) = (Recorder::default(), Recorder::default());
        let mut tally = Tally::default();
        for us in [3, 70, 70, 4_000, 9_000_000] {
            direct.observe(Duration::from_micros(us));
            tally.observe(Duration::from_micros(us));
        }
        absorbed.absorb(&mut tally);
        assert_eq!(absorbed.read(), direct.read());
        // Emptied: absorbing again adds nothing.
        absorbed.absorb(&mut tally);
        assert_eq!(absorbed.read(), direct.read());
    }

    #[test]
    fn fine_buckets_tile_the_range_without_gaps() {
        assert_eq!(fine_bounds(0), (0, 512));
        for index in 1..FINE - 1 {
            let (low, high) = fine_bounds(index);
            assert_eq!(fine_bounds(index - 1).1, low, "gap before {index}");
            assert_eq!(fine_index(low), index);
            assert_eq!(fine_index(high - 1), index);
            // At most an eighth of the lower bound wide.
            assert!((high - low) * 8 <= low, "bucket {index}: {low}..{high}");
        }
        assert_eq!(fine_index(u64::MAX), FINE - 1);
    }

    /// Every quantile within 10% of the exact one (the sample of rank
    /// ⌈q·n⌉), over samples spread from 1 µs to 100 s.
    #[test]
    fn quantiles_are_within_ten_percent_of_the_exact_samples() {
        // A fixed linear congruential generator: the same samples each run.
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            seed >> 11
        };
        for round in 0..20 {
            let recorder = Recorder::default();
            let n = 1 + (next() % 5_000) as usize;
            let mut exact: Vec<u64> = (0..n)
                .map(|_| {
                    // Log-uniform over 1 µs .. 100 s: eight decades.
                    let exponent = (next() % 8_000) as f64 / 1_000.0;
                    (1_000.0 * 10f64.powf(exponent)) as u64
                })
                .collect();
            for &ns in &exact {
                recorder.observe(Duration::from_nanos(ns));
            }
            exact.sort_unstable();
            let latency = recorder.read();
            for q in [0.0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999, 1.0] {
                let rank = ((q * n as f64).ceil() as usize).max(1);
                let truth = exact[rank - 1] as f64;
                let read = latency.quantile(q).expect("under 275 s").as_nanos() as f64;
                let error = (read - truth).abs() / truth;
                assert!(
                    error <= 0.10,
                    "round {round}, q {q}: read {read} ns, exact {truth} ns ({:.1}% off)",
                    error * 100.0
                );
            }
        }
    }
}
