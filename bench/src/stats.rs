//! Percentiles of raw latency samples.

use std::time::Duration;

/// Summary of a set of latency samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub count: usize,
    pub p50: Duration,
    pub p90: Duration,
    pub p99: Duration,
    pub max: Duration,
    pub mean: Duration,
}

/// Nearest-rank percentile (`q` in 0..=1) of sorted samples: the smallest sample such that at least
/// `q` of all samples are at or below it. `None` for no samples.
pub fn percentile(sorted: &[Duration], q: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q.clamp(0.0, 1.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// Sorts the samples and summarizes them. `None` for no samples.
pub fn summarize(samples: &mut [Duration]) -> Option<Summary> {
    samples.sort_unstable();
    let total: Duration = samples.iter().sum();
    Some(Summary {
        count: samples.len(),
        p50: percentile(samples, 0.50)?,
        p90: percentile(samples, 0.90)?,
        p99: percentile(samples, 0.99)?,
        max: *samples.last()?,
        mean: total / u32::try_from(samples.len()).unwrap_or(u32::MAX),
    })
}

/// Milliseconds with two decimals, e.g. `1.27`.
pub fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1e3)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms_list(v: &[u64]) -> Vec<Duration> {
        v.iter().map(|&m| Duration::from_millis(m)).collect()
    }

    #[test]
    fn nearest_rank_percentiles_of_one_to_hundred() {
        let mut s = ms_list(&(1..=100).rev().collect::<Vec<_>>());
        let sum = summarize(&mut s).expect("samples");
        assert_eq!(sum.p50, Duration::from_millis(50));
        assert_eq!(sum.p90, Duration::from_millis(90));
        assert_eq!(sum.p99, Duration::from_millis(99));
        assert_eq!(sum.max, Duration::from_millis(100));
        assert_eq!(sum.count, 100);
    }

    #[test]
    fn one_sample_is_every_percentile() {
        let s = ms_list(&[7]);
        assert_eq!(percentile(&s, 0.0), Some(Duration::from_millis(7)));
        assert_eq!(percentile(&s, 0.99), Some(Duration::from_millis(7)));
    }

    #[test]
    fn no_samples_no_summary() {
        assert_eq!(summarize(&mut []), None);
    }
}
