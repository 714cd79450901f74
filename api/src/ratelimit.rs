//! Token-bucket rate limiting per API token (or dashboard session), per tenant, and per client address
//! on unauthenticated routes. In memory, per process: each API replica enforces its own share.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// The outcome of taking one request from a set of buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// The limit of the tightest bucket, requests per minute.
    pub limit: u32,
    /// Requests left in the tightest bucket.
    pub remaining: u32,
    /// Seconds until a request would be allowed again (0 when allowed).
    pub retry_after_secs: u64,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Buckets keyed by text (`token:<id>`, `tenant:<id>`, `ip:<addr>`).
#[derive(Default)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<String, Bucket>>,
}

/// Buckets untouched for this long are full again and can be forgotten.
const FORGET_AFTER_SECS: f64 = 120.0;

impl RateLimiter {
    /// Takes one request from every named bucket (each with its per-minute limit), all or nothing.
    pub fn check(&self, keys: &[(&str, u32)]) -> Decision {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() > 100_000 {
            buckets.retain(|_, b| now.duration_since(b.at).as_secs_f64() < FORGET_AFTER_SECS);
        }
        let mut levels = Vec::with_capacity(keys.len());
        for &(key, limit) in keys {
            let cap = f64::from(limit.max(1));
            let b = buckets.entry(key.to_string()).or_insert(Bucket {
                tokens: cap,
                at: now,
            });
            let refill = now.duration_since(b.at).as_secs_f64() * cap / 60.0;
            b.tokens = (b.tokens + refill).min(cap);
            b.at = now;
            levels.push((b.tokens, cap));
        }
        let allowed = levels.iter().all(|(t, _)| *t >= 1.0);
        if allowed {
            for &(key, _) in keys {
                if let Some(b) = buckets.get_mut(key) {
                    b.tokens -= 1.0;
                }
            }
        }
        let (tokens, cap) = levels
            .iter()
            .map(|&(t, c)| if allowed { (t - 1.0, c) } else { (t, c) })
            .min_by(|a, b| a.0.total_cmp(&b.0))
            .unwrap_or((0.0, 1.0));
        let retry_after_secs = if allowed {
            0
        } else {
            ((1.0 - tokens) * 60.0 / cap).ceil().max(1.0) as u64
        };
        Decision {
            allowed,
            limit: cap as u32,
            remaining: tokens.max(0.0).floor() as u32,
            retry_after_secs,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_the_limit_then_refuses_with_retry_after() {
        let rl = RateLimiter::default();
        for i in 0..3 {
            let d = rl.check(&[("token:a", 3), ("tenant:t", 100)]);
            assert!(d.allowed);
            assert_eq!(d.remaining, 2 - i);
            assert_eq!(d.limit, 3);
        }
        let d = rl.check(&[("token:a", 3), ("tenant:t", 100)]);
        assert!(!d.allowed);
        assert!(d.retry_after_secs >= 1 && d.retry_after_secs <= 20);
        // Another token of the same tenant is unaffected; the refused request took nothing.
        let d = rl.check(&[("token:b", 3), ("tenant:t", 100)]);
        assert!(d.allowed);
        assert_eq!(d.limit, 3);
    }

    #[test]
    fn tenant_bucket_binds_all_tokens() {
        let rl = RateLimiter::default();
        assert!(rl.check(&[("token:a", 10), ("tenant:t", 2)]).allowed);
        assert!(rl.check(&[("token:b", 10), ("tenant:t", 2)]).allowed);
        let d = rl.check(&[("token:c", 10), ("tenant:t", 2)]);
        assert!(!d.allowed);
        assert_eq!(d.limit, 2);
    }
}
