use std::time::Duration;

/// "Full jitter" exponential backoff: a uniform pick in
/// `[0, min(max, base · 2^attempt)]`, never below `base / 2` so a failing
/// server is not hammered.
pub fn full_jitter(base: Duration, max: Duration, attempt: u32, sample: f64) -> Duration {
    let exp = base.saturating_mul(1u32.checked_shl(attempt.min(30)).unwrap_or(u32::MAX));
    let ceiling = exp.min(max);
    let floor = (base / 2).min(ceiling);
    floor + (ceiling - floor).mul_f64(sample.clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn backoff_stays_within_its_bounds(attempt in 0u32..100, sample in 0.0f64..1.0) {
            let base = Duration::from_secs(30);
            let max = Duration::from_secs(7200);
            let d = full_jitter(base, max, attempt, sample);
            prop_assert!(d <= max);
            prop_assert!(d >= base / 2);
        }
    }

    #[test]
    fn backoff_grows_with_attempts() {
        let base = Duration::from_secs(30);
        let max = Duration::from_secs(7200);
        assert_eq!(full_jitter(base, max, 0, 1.0), Duration::from_secs(30));
        assert_eq!(full_jitter(base, max, 3, 1.0), Duration::from_secs(240));
        assert_eq!(full_jitter(base, max, 20, 1.0), max);
    }
}
