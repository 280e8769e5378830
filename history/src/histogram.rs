//! The rollups' latency histogram: fixed logarithmic buckets, eight per doubling, merged by
//! adding counts, read as percentiles.
//!
//! Bucket 0 holds latencies under 1 ms; bucket `b >= 1` holds `[2^((b-1)/8), 2^(b/8))` ms, the
//! last (255) everything from about 39 days up. A percentile is reported as the geometric middle
//! of the bucket holding the exact nearest-rank percentile, so it is within
//! [`RELATIVE_ERROR`] of it (`2^(1/16) - 1`), bucket 0 (reported as 0) and 255 aside.
//! PostgreSQL stores a histogram sparse, as `bigint[]` of `bucket << 40 | count`, sorted by bucket
//! (`recorder/migrations/0006_history.sql`).

use agentry_api_contract::agents::LatencyPercentiles;

/// Buckets per doubling of latency.
const BUCKETS_PER_DOUBLING: f64 = 8.0;
/// Number of buckets.
const BUCKETS: usize = 256;
/// Low bits of a stored element holding the count.
const COUNT_MASK: i64 = (1 << 40) - 1;

/// Largest relative difference between a reported percentile and the exact one: half a bucket,
/// geometrically (about 4.4 %).
pub const RELATIVE_ERROR: f64 = 0.044_273_782_427_413_84;

/// Counts of latencies by bucket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LatencyHistogram {
    counts: Box<[u64; BUCKETS]>,
    total: u64,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self { counts: Box::new([0; BUCKETS]), total: 0 }
    }
}

impl LatencyHistogram {
    /// Adds a stored sparse histogram (elements that are not `bucket << 40 | count` with a
    /// bucket below 256 are skipped: no writer makes them).
    pub fn add_stored(&mut self, stored: &[i64]) {
        for element in stored {
            let bucket = usize::try_from(element >> 40).ok().filter(|b| *b < BUCKETS);
            let count = u64::try_from(element & COUNT_MASK).unwrap_or_default();
            if let Some(bucket) = bucket {
                self.counts[bucket] += count;
                self.total += count;
            }
        }
    }

    /// Adds every count of `other`.
    pub fn merge(&mut self, other: &LatencyHistogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(other.counts.iter()) {
            *mine += theirs;
        }
        self.total += other.total;
    }

    /// Latencies counted.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The `q` quantile (0 < q <= 1) by nearest rank, as its bucket's middle; `None` when empty.
    // A float-to-integer `as` saturates, and the rank is clamped to the count anyway.
    #[allow(clippy::cast_possible_truncation)]
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.total == 0 {
            return None;
        }
        // Nearest rank: the ceil(q * n)-th smallest, at least the first.
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        let bucket = self.counts.iter().position(|count| {
            seen += count;
            seen >= rank
        })?;
        Some(bucket_middle(bucket))
    }

    /// p50, p95 and p99.
    pub fn percentiles(&self) -> LatencyPercentiles {
        LatencyPercentiles { p50: self.quantile(0.50), p95: self.quantile(0.95), p99: self.quantile(0.99) }
    }
}

/// The bucket of a latency, as the recorder's SQL `latency_bucket` computes it.
// The logarithm of a u64 is below 64 * 8 + 1: the `as` cannot cut it.
#[allow(clippy::cast_possible_truncation)]
pub fn bucket_of(latency_ms: u64) -> usize {
    if latency_ms < 1 {
        return 0;
    }
    let bucket = (BUCKETS_PER_DOUBLING * (latency_ms as f64).log2() + 1e-9).floor() as usize + 1;
    bucket.min(BUCKETS - 1)
}

/// The geometric middle of a bucket, milliseconds (0 for bucket 0).
fn bucket_middle(bucket: usize) -> f64 {
    if bucket == 0 {
        return 0.0;
    }
    ((bucket as f64 - 0.5) / BUCKETS_PER_DOUBLING).exp2()
}

#[cfg(test)]
#[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)]
mod tests {
    use super::*;

    fn stored(latencies: &[u64]) -> Vec<i64> {
        let mut h = [0i64; BUCKETS];
        for l in latencies {
            h[bucket_of(*l)] += 1;
        }
        h.iter().enumerate().filter(|(_, n)| **n > 0).map(|(b, n)| ((b as i64) << 40) | n).collect()
    }

    #[test]
    fn buckets_match_the_sql_definition() {
        assert_eq!([bucket_of(0), bucket_of(1), bucket_of(2), bucket_of(100)], [0, 1, 9, 54]);
        assert_eq!([bucket_of(1023), bucket_of(1024), bucket_of(u64::MAX)], [80, 81, 255]);
    }

    #[test]
    fn every_percentile_is_within_the_stated_error() {
        let latencies: Vec<u64> = (1..=5_000).map(|i| (i * i) % 90_001 + 1).collect();
        let mut h = LatencyHistogram::default();
        h.add_stored(&stored(&latencies));
        let mut sorted = latencies.clone();
        sorted.sort_unstable();
        for q in [0.01, 0.5, 0.9, 0.95, 0.99, 1.0] {
            let rank = ((q * sorted.len() as f64).ceil() as usize).max(1);
            let exact = sorted[rank - 1] as f64;
            let estimate = h.quantile(q).expect("not empty");
            assert!((estimate - exact).abs() <= exact * RELATIVE_ERROR, "q {q}: {estimate} vs {exact}");
        }
        assert_eq!(LatencyHistogram::default().quantile(0.5), None);
        assert!((2f64.powf(1.0 / 16.0) - 1.0 - RELATIVE_ERROR).abs() < 1e-15);
    }
}
