//! Latency histograms the reactor and handles record into without a lock:
//! fixed buckets (the OpenMetrics shape), one atomic add per sample.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Bucket upper bounds in microseconds, 50 µs to 10 s; one more bucket
/// holds everything slower.
const BOUNDS_US: [u64; 16] = [
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_500_000, 10_000_000,
];
const BUCKETS: usize = BOUNDS_US.len() + 1;

/// Where samples go.
#[derive(Debug, Default)]
pub(crate) struct Recorder {
    buckets: [AtomicU64; BUCKETS],
    sum_us: AtomicU64,
}

impl Recorder {
    pub fn observe(&self, elapsed: Duration) {
        let us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        let index = BOUNDS_US.partition_point(|&bound| bound < us);
        self.buckets[index].fetch_add(1, Relaxed);
        self.sum_us.fetch_add(us, Relaxed);
    }

    pub fn read(&self) -> Latency {
        Latency {
            counts: std::array::from_fn(|i| self.buckets[i].load(Relaxed)),
            sum_us: self.sum_us.load(Relaxed),
        }
    }
}

/// A reading of one latency histogram: how many samples fell at or below
/// each bound, from 50 µs to 10 s.
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
    sum_us: u64,
}

impl Latency {
    /// Samples recorded.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// All samples added together.
    pub fn sum(&self) -> Duration {
        Duration::from_micros(self.sum_us)
    }

    /// Each bucket's upper bound (`None`: no bound, the last) and the
    /// samples at or below it (cumulative, as OpenMetrics counts them).
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

    /// The upper bound of the bucket holding quantile `q` (0.5 for the
    /// median): at most one bucket coarse. `None` with no samples or when
    /// it falls past the last bound (10 s).
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        let count = self.count();
        if count == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * count as f64).ceil() as u64).max(1);
        self.buckets()
            .find(|&(_, below)| below >= rank)
            .and_then(|(bound, _)| bound)
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
        recorder.observe(Duration::from_secs(60));
        let latency = recorder.read();
        assert_eq!(latency.count(), 4);
        let buckets: Vec<_> = latency.buckets().collect();
        assert_eq!(buckets[0], (Some(Duration::from_micros(50)), 1));
        assert_eq!(buckets[1], (Some(Duration::from_micros(100)), 2));
        assert_eq!(buckets[6], (Some(Duration::from_millis(5)), 3));
        assert_eq!(buckets.last(), Some(&(None, 4)));
        assert_eq!(latency.quantile(0.5), Some(Duration::from_micros(100)));
        assert_eq!(latency.quantile(0.75), Some(Duration::from_millis(5)));
        assert_eq!(latency.quantile(1.0), None, "past the last bound");
        assert_eq!(latency.sum(), Duration::from_micros(60_003_101));
    }
}
