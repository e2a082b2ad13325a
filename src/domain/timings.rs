use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use super::time::{format_duration, parse_duration};

/// A range a relay's delay is drawn from, written `24h..72h` (or one value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayDelay {
    pub min: Duration,
    pub max: Duration,
}

impl RelayDelay {
    /// Picks a delay in the range from a uniform sample in `[0, 1)`.
    pub fn pick(&self, sample: f64) -> Duration {
        let span = self.max.saturating_sub(self.min);
        self.min + span.mul_f64(sample.clamp(0.0, 1.0))
    }
}

impl FromStr for RelayDelay {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (min, max) = match s.split_once("..") {
            Some((a, b)) => (parse_duration(a)?, parse_duration(b)?),
            None => {
                let d = parse_duration(s)?;
                (d, d)
            }
        };
        if min > max {
            return Err(format!(
                "`{s}`: the first bound must not be larger than the second"
            ));
        }
        Ok(Self { min, max })
    }
}

impl fmt::Display for RelayDelay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.min == self.max {
            write!(f, "{}", format_duration(self.min))
        } else {
            write!(
                f,
                "{}..{}",
                format_duration(self.min),
                format_duration(self.max)
            )
        }
    }
}

/// The clocks of the intro flow (SPEC §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timings {
    pub remind_after: Duration,
    pub expire_after: Duration,
    pub undo_window: Duration,
    pub relay_delay: RelayDelay,
    pub reconfirm_after: Duration,
    /// `None` when follow-ups are off.
    pub follow_up_after: Option<Duration>,
    /// A pair declined or expired this recently cannot be asked again.
    pub cooldown: Duration,
}

impl Default for Timings {
    fn default() -> Self {
        const DAY: u64 = 86_400;
        Self {
            remind_after: Duration::from_secs(3 * DAY),
            expire_after: Duration::from_secs(7 * DAY),
            undo_window: Duration::from_secs(600),
            relay_delay: RelayDelay {
                min: Duration::from_secs(24 * 3600),
                max: Duration::from_secs(72 * 3600),
            },
            reconfirm_after: Duration::from_secs(14 * DAY),
            follow_up_after: Some(Duration::from_secs(14 * DAY)),
            cooldown: Duration::from_secs(90 * DAY),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relay_delays_parse_as_ranges_or_single_values() {
        let r: RelayDelay = "24h..72h".parse().unwrap();
        assert_eq!(r.min, Duration::from_secs(86_400));
        assert_eq!(r.pick(0.5), Duration::from_secs(48 * 3600));
        let zero: RelayDelay = "0s".parse().unwrap();
        assert_eq!(zero.pick(0.9), Duration::ZERO);
        assert!("72h..24h".parse::<RelayDelay>().is_err());
        assert_eq!(r.to_string(), "1day..3days");
    }
}
