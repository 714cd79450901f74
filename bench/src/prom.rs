//! Reading histograms out of Prometheus text exposition (`GET /metrics`) and estimating quantiles
//! from their buckets the way PromQL's `histogram_quantile` does (linear inside the bucket).

/// One cumulative histogram: `(upper bound, observations ≤ bound)` sorted by bound, the last bound
/// being `+Inf`, plus the sum of observed values.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    pub buckets: Vec<(f64, f64)>,
    pub sum: f64,
}

/// Where a quantile falls: the interpolated estimate and the bucket that holds it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quantile {
    pub estimate: f64,
    pub lower: f64,
    pub upper: f64,
}

/// `estimate (lower–upper)` of a quantile in ms, `> lower` when it falls in the `+Inf` bucket,
/// `n/a` without observations.
pub fn quantile_ms(h: Option<&Histogram>, q: f64) -> String {
    match h.and_then(|h| h.quantile(q)) {
        Some(x) if x.upper.is_infinite() => format!("> {}", x.lower * 1e3),
        Some(x) => format!(
            "{:.1} ({}–{})",
            x.estimate * 1e3,
            x.lower * 1e3,
            x.upper * 1e3
        ),
        None => "n/a".into(),
    }
}

/// One sample line: series name, labels, value.
type Sample<'a> = (&'a str, Vec<(&'a str, &'a str)>, f64);

/// Splits `name{a="x",b="y"} 12` into (name, labels, value). Comments and malformed lines: `None`.
fn parse_line(line: &str) -> Option<Sample<'_>> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let (series, value) = line.rsplit_once(' ')?;
    let value: f64 = value.parse().ok()?;
    let (name, labels) = match series.split_once('{') {
        Some((name, rest)) => {
            let body = rest.strip_suffix('}')?;
            // Our label values (routes, methods, bounds) hold no commas or quotes, so a plain split
            // is enough here.
            let labels = body
                .split(',')
                .filter(|kv| !kv.is_empty())
                .map(|kv| {
                    let (k, v) = kv.split_once('=')?;
                    Some((k.trim(), v.trim().strip_prefix('"')?.strip_suffix('"')?))
                })
                .collect::<Option<Vec<_>>>()?;
            (name, labels)
        }
        None => (series, Vec::new()),
    };
    Some((name, labels, value))
}

/// The histogram `name` (without `_bucket`/`_sum`) whose labels include all of `with`. `None` when
/// the exposition has no such histogram.
pub fn histogram(text: &str, name: &str, with: &[(&str, &str)]) -> Option<Histogram> {
    let bucket_name = format!("{name}_bucket");
    let sum_name = format!("{name}_sum");
    let mut buckets = Vec::new();
    let mut sum = None;
    for (series, labels, value) in text.lines().filter_map(parse_line) {
        if !with.iter().all(|w| labels.contains(w)) {
            continue;
        }
        if series == bucket_name {
            let le = labels.iter().find(|(k, _)| *k == "le")?.1;
            let bound = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            buckets.push((bound, value));
        } else if series == sum_name {
            sum = Some(value);
        }
    }
    if buckets.is_empty() {
        return None;
    }
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    Some(Histogram {
        buckets,
        sum: sum.unwrap_or(0.0),
    })
}

impl Histogram {
    /// Observations made between `before` and `self` (same bucket layout). `None` when the layouts
    /// differ.
    pub fn since(&self, before: &Histogram) -> Option<Histogram> {
        if self.buckets.len() != before.buckets.len() {
            return None;
        }
        let buckets = self
            .buckets
            .iter()
            .zip(&before.buckets)
            .map(|(a, b)| (a.0 == b.0).then_some((a.0, a.1 - b.1)))
            .collect::<Option<Vec<_>>>()?;
        Some(Histogram {
            buckets,
            sum: self.sum - before.sum,
        })
    }

    /// Total observations.
    pub fn count(&self) -> f64 {
        self.buckets.last().map_or(0.0, |b| b.1)
    }

    /// Mean observed value.
    pub fn mean(&self) -> Option<f64> {
        let n = self.count();
        (n > 0.0).then(|| self.sum / n)
    }

    /// Share of observations at or below `bound`, exact when `bound` is one of the bucket bounds.
    /// `None` when `bound` is not a bucket bound or there are no observations.
    pub fn share_at_or_below(&self, bound: f64) -> Option<f64> {
        let n = self.count();
        let (_, c) = self
            .buckets
            .iter()
            .find(|(b, _)| (b - bound).abs() < 1e-12)?;
        (n > 0.0).then(|| c / n)
    }

    /// The `q` quantile, interpolated linearly inside its bucket (as PromQL's
    /// `histogram_quantile`). A quantile in the `+Inf` bucket is reported at the highest finite
    /// bound.
    pub fn quantile(&self, q: f64) -> Option<Quantile> {
        let n = self.count();
        if n <= 0.0 {
            return None;
        }
        let rank = q.clamp(0.0, 1.0) * n;
        let mut lower = 0.0;
        let mut below = 0.0;
        for &(upper, cumulative) in &self.buckets {
            if cumulative >= rank && cumulative > below {
                if upper.is_infinite() {
                    return Some(Quantile {
                        estimate: lower,
                        lower,
                        upper,
                    });
                }
                let estimate = lower + (upper - lower) * (rank - below) / (cumulative - below);
                return Some(Quantile {
                    estimate,
                    lower,
                    upper,
                });
            }
            lower = upper;
            below = cumulative;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"# HELP inlet_api_authorize_duration_seconds Publish authorization latency inside the API.
# TYPE inlet_api_authorize_duration_seconds histogram
inlet_api_authorize_duration_seconds_sum 0.35
inlet_api_authorize_duration_seconds_count 200
inlet_api_authorize_duration_seconds_bucket{le="0.001"} 50
inlet_api_authorize_duration_seconds_bucket{le="0.002"} 150
inlet_api_authorize_duration_seconds_bucket{le="0.005"} 198
inlet_api_authorize_duration_seconds_bucket{le="+Inf"} 200
inlet_api_http_request_duration_seconds_bucket{method="POST",route="/x",le="0.001"} 3
inlet_api_http_request_duration_seconds_bucket{method="POST",route="/x",le="+Inf"} 4
inlet_api_http_request_duration_seconds_bucket{method="GET",route="/y",le="0.001"} 9
inlet_api_http_request_duration_seconds_bucket{method="GET",route="/y",le="+Inf"} 9
"#;

    #[test]
    fn quantiles_interpolate_inside_the_bucket() {
        let h = histogram(TEXT, "inlet_api_authorize_duration_seconds", &[]).expect("histogram");
        assert_eq!(h.count(), 200.0);
        let p50 = h.quantile(0.5).expect("p50");
        assert!((p50.estimate - 0.0015).abs() < 1e-9, "{p50:?}");
        assert_eq!((p50.lower, p50.upper), (0.001, 0.002));
        let p99 = h.quantile(0.99).expect("p99");
        assert_eq!((p99.lower, p99.upper), (0.002, 0.005));
        assert_eq!(h.share_at_or_below(0.005), Some(0.99));
        assert_eq!(h.share_at_or_below(0.004), None);
    }

    #[test]
    fn quantile_in_the_overflow_bucket_reports_the_last_finite_bound() {
        let h = histogram(TEXT, "inlet_api_authorize_duration_seconds", &[]).expect("histogram");
        let q = h.quantile(0.999).expect("q");
        assert_eq!(q.estimate, 0.005);
        assert!(q.upper.is_infinite());
    }

    #[test]
    fn labels_select_one_series_and_since_subtracts() {
        let h = histogram(
            TEXT,
            "inlet_api_http_request_duration_seconds",
            &[("route", "/x")],
        )
        .expect("histogram");
        assert_eq!(h.buckets, vec![(0.001, 3.0), (f64::INFINITY, 4.0)]);
        let before = Histogram {
            buckets: vec![(0.001, 1.0), (f64::INFINITY, 1.0)],
            sum: 0.0,
        };
        let d = h.since(&before).expect("same layout");
        assert_eq!(d.buckets, vec![(0.001, 2.0), (f64::INFINITY, 3.0)]);
        assert_eq!(
            histogram(
                TEXT,
                "inlet_api_http_request_duration_seconds",
                &[("route", "/z")]
            ),
            None
        );
    }

    #[test]
    fn empty_histogram_has_no_quantile() {
        let h = Histogram {
            buckets: vec![(0.001, 0.0), (f64::INFINITY, 0.0)],
            sum: 0.0,
        };
        assert_eq!(h.quantile(0.5), None);
        assert_eq!(h.mean(), None);
    }
}
