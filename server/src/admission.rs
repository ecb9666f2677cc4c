//! Admission control for background work (Dynamo §6.5): anti-entropy, hinted handoff
//! and partition transfers run in slices a feedback controller sizes by the latency
//! clients see, so a busy node spends its one driver thread on foreground requests
//! first and catches up on background work when they are fast again.
//!
//! The controller watches every client request's latency on the driver (from the
//! step that starts it to the release of its reply) over a sliding window, and once
//! per adjustment period compares the window's p99 with a target: above it, the share
//! of background rounds allowed halves (down to a floor, so background work never
//! starves: a repair or a move always progresses); at or below it, the share grows
//! back by a fixed step (AIMD, as TCP sizes its window). A due background round runs
//! when the accumulated share reaches one, else it is deferred by one interval.
//!
//! Invariants:
//! - the share stays within `[SHARE_MIN, 1]`;
//! - with no client requests (an idle or background-only node), every round runs;
//! - over any run of rounds, at least `SHARE_MIN` of them run (credit accumulates).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Smallest share of background rounds run, however slow clients are.
pub const SHARE_MIN: f64 = 1.0 / 16.0;
/// Share regained per adjustment while clients are within the target.
pub const SHARE_STEP: f64 = 1.0 / 8.0;
/// Latencies kept in the window at most (the oldest are dropped first).
pub const WINDOW_SAMPLES_MAX: usize = 4096;

/// The controller's settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AdmissionConfig {
    /// Client p99 above which background work is throttled.
    pub target_p99: Duration,
    /// How far back the window reaches.
    pub window: Duration,
    /// How often the share is adjusted.
    pub period: Duration,
}

impl Default for AdmissionConfig {
    fn default() -> Self {
        AdmissionConfig {
            target_p99: Duration::from_millis(50),
            window: Duration::from_secs(2),
            period: Duration::from_millis(250),
        }
    }
}

/// What the controller decided for one due background round.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Run,
    Defer,
}

/// Counters of the controller's decisions, for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct AdmissionStats {
    pub rounds_run: u64,
    pub rounds_deferred: u64,
    /// The share of background rounds allowed now.
    pub share: f64,
    /// The window's client p99 at the last adjustment (`None`: no samples).
    pub p99: Option<Duration>,
}

/// The feedback controller (see the module documentation).
#[derive(Clone, Debug)]
pub struct Admission {
    config: AdmissionConfig,
    samples: VecDeque<(Instant, Duration)>,
    share: f64,
    credit: f64,
    adjusted: Option<Instant>,
    stats: AdmissionStats,
}

impl Admission {
    pub fn new(config: AdmissionConfig) -> Self {
        Admission {
            config,
            samples: VecDeque::new(),
            share: 1.0,
            credit: 0.0,
            adjusted: None,
            stats: AdmissionStats {
                share: 1.0,
                ..AdmissionStats::default()
            },
        }
    }

    /// A client request finished at `now` after `latency`.
    pub fn record(&mut self, now: Instant, latency: Duration) {
        if self.samples.len() == WINDOW_SAMPLES_MAX {
            self.samples.pop_front();
        }
        self.samples.push_back((now, latency));
    }

    /// A background round is due at `now`: run it or defer it.
    pub fn admit(&mut self, now: Instant) -> Decision {
        self.adjust(now);
        self.credit = (self.credit + self.share).min(1.0);
        if self.credit >= 1.0 - f64::EPSILON {
            self.credit = 0.0;
            self.stats.rounds_run += 1;
            Decision::Run
        } else {
            self.stats.rounds_deferred += 1;
            Decision::Defer
        }
    }

    pub fn stats(&self) -> AdmissionStats {
        self.stats
    }

    /// Once per period: drop samples older than the window, then move the share by the
    /// window's p99 against the target.
    fn adjust(&mut self, now: Instant) {
        if self
            .adjusted
            .is_some_and(|at| now.saturating_duration_since(at) < self.config.period)
        {
            return;
        }
        self.adjusted = Some(now);
        while let Some((at, _)) = self.samples.front() {
            if now.saturating_duration_since(*at) <= self.config.window {
                break;
            }
            self.samples.pop_front();
        }
        let p99 = self.p99();
        self.share = match p99 {
            Some(p99) if p99 > self.config.target_p99 => (self.share / 2.0).max(SHARE_MIN),
            _ => (self.share + SHARE_STEP).min(1.0),
        };
        self.stats.share = self.share;
        self.stats.p99 = p99;
    }

    fn p99(&self) -> Option<Duration> {
        if self.samples.is_empty() {
            return None;
        }
        let mut latencies: Vec<Duration> = self.samples.iter().map(|(_, l)| *l).collect();
        latencies.sort_unstable();
        let index = (latencies.len() * 99).div_ceil(100).saturating_sub(1);
        Some(latencies[index])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    /// Background rounds due every 100 ms for `rounds` rounds, with a client request of
    /// `latency` finishing every 10 ms; how many rounds ran.
    fn run(admission: &mut Admission, start: Instant, rounds: u64, latency: Duration) -> u64 {
        let mut ran = 0;
        for round in 0..rounds {
            let at = start + ms(100 * round);
            for i in 0..10 {
                admission.record(at + ms(10 * i), latency);
            }
            ran += u64::from(admission.admit(at + ms(99)) == Decision::Run);
        }
        ran
    }

    #[test]
    fn an_idle_node_runs_every_background_round() {
        let mut admission = Admission::new(AdmissionConfig::default());
        let now = Instant::now();
        for round in 0..100 {
            assert_eq!(admission.admit(now + ms(100 * round)), Decision::Run);
        }
        assert_eq!(admission.stats().rounds_deferred, 0);
    }

    #[test]
    fn fast_clients_leave_background_work_alone() {
        let mut admission = Admission::new(AdmissionConfig::default());
        let ran = run(&mut admission, Instant::now(), 100, ms(5));
        assert_eq!(ran, 100);
    }

    /// Slow clients throttle background work down to the floor, never below it, and
    /// the share comes back once clients are fast again.
    #[test]
    fn slow_clients_throttle_background_work_to_the_floor_and_it_recovers() {
        let mut admission = Admission::new(AdmissionConfig::default());
        let start = Instant::now();
        let slow = run(&mut admission, start, 200, ms(80));
        assert_eq!(admission.stats().share, SHARE_MIN);
        let floor = (200.0 * SHARE_MIN) as u64;
        assert!(
            (floor..floor + 10).contains(&slow),
            "{slow} of 200 rounds ran while clients were slow (floor {floor})"
        );
        let later = start + ms(100 * 200) + admission.config.window;
        let fast = run(&mut admission, later, 200, ms(5));
        assert!(
            fast > 180,
            "{fast} of 200 rounds ran once clients were fast"
        );
        assert_eq!(admission.stats().share, 1.0);
    }

    /// The p99, not the mean: one slow request in a hundred is within the target.
    #[test]
    fn the_target_is_on_the_p99() {
        let mut admission = Admission::new(AdmissionConfig::default());
        let now = Instant::now();
        for i in 0..100 {
            let latency = if i == 0 { ms(500) } else { ms(5) };
            admission.record(now, latency);
        }
        assert_eq!(admission.admit(now), Decision::Run);
        assert_eq!(admission.stats().p99, Some(ms(5)));
        for _ in 0..2 {
            admission.record(now, ms(500));
        }
        admission.adjusted = None;
        admission.admit(now);
        assert_eq!(admission.stats().p99, Some(ms(500)));
        assert!(admission.stats().share < 1.0);
    }
}
