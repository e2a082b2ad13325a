//! A send-rate cap shared by every connection of the pool.

use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

/// Spaces sends at least `1 / rate` seconds apart.
pub struct RateLimit {
    interval: Duration,
    next: Mutex<Instant>,
}

impl RateLimit {
    pub fn per_second(rate: f64) -> Self {
        Self {
            interval: Duration::from_secs_f64(1.0 / rate),
            next: Mutex::new(Instant::now()),
        }
    }

    /// Waits for this send's slot.
    pub async fn wait(&self) {
        let slot = {
            let mut next = self.next.lock().await;
            let now = Instant::now();
            let slot = (*next).max(now);
            *next = slot + self.interval;
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn sends_are_spaced_by_the_rate() {
        let limit = RateLimit::per_second(10.0);
        let start = Instant::now();
        for _ in 0..5 {
            limit.wait().await;
        }
        // Virtual time: four intervals of 100 ms after the first send.
        assert_eq!(Instant::now() - start, Duration::from_millis(400));
    }
}
