//! The checker: after the faults are healed and the cluster converged, nothing
//! acknowledged is lost and nothing appears that nobody wrote.
//!
//! A put's value is unique, and the read before it tells which values its context
//! covered (`seen`). An acknowledged value may be absent from the final state only if
//! some put (whatever its outcome: a refused or timed-out put may still have been
//! stored, as Dynamo allows) was written over a context that covered it. Every final
//! value must be one some client tried to write.

use crate::workload::{History, Outcome, Put};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

/// The verdict and the figures of a run.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub puts_ok: usize,
    pub puts_failed: usize,
    pub puts_unknown: usize,
    pub gets_ok: usize,
    pub gets_failed: usize,
    /// Acknowledged values missing from the final state and covered by no put.
    pub lost: Vec<String>,
    /// Final values nobody tried to write.
    pub phantoms: Vec<String>,
    /// Puts acknowledged / attempted while a fault was active.
    pub availability_under_faults: Option<f64>,
    /// From heal until every partition's replicas had equal Merkle roots.
    pub converged_after: Option<Duration>,
    pub faults: usize,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.lost.is_empty() && self.phantoms.is_empty() && self.converged_after.is_some()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "faults injected:   {}", self.faults)?;
        writeln!(
            f,
            "puts:              {} ok, {} failed, {} unknown",
            self.puts_ok, self.puts_failed, self.puts_unknown
        )?;
        writeln!(
            f,
            "gets:              {} ok, {} failed",
            self.gets_ok, self.gets_failed
        )?;
        match self.availability_under_faults {
            Some(a) => writeln!(f, "write availability under faults: {:.1}%", a * 100.0)?,
            None => writeln!(f, "write availability under faults: no put during a fault")?,
        }
        match self.converged_after {
            Some(d) => writeln!(f, "converged after heal: {:.1} s", d.as_secs_f64())?,
            None => writeln!(f, "converged after heal: NO")?,
        }
        writeln!(f, "lost: {} {:?}", self.lost.len(), first(&self.lost))?;
        write!(
            f,
            "phantoms: {} {:?}",
            self.phantoms.len(),
            first(&self.phantoms)
        )
    }
}

fn first(values: &[String]) -> &[String] {
    &values[..values.len().min(10)]
}

/// Check the histories against the final state (key -> live values).
pub fn check(
    histories: &[History],
    final_state: &BTreeMap<String, BTreeSet<String>>,
    fault_windows: &[(Duration, Duration)],
) -> Report {
    let puts: Vec<&Put> = histories.iter().flat_map(|h| &h.puts).collect();
    let count = |outcome| puts.iter().filter(|p| p.outcome == outcome).count();
    let covered: BTreeSet<&str> = puts
        .iter()
        .flat_map(|p| p.seen.iter().map(String::as_str))
        .collect();
    let written: BTreeSet<&str> = puts.iter().map(|p| p.value.as_str()).collect();
    let present = |p: &Put| {
        final_state
            .get(&p.key)
            .is_some_and(|v| v.contains(&p.value))
    };
    let lost = puts
        .iter()
        .filter(|p| p.outcome == Outcome::Ok && !present(p) && !covered.contains(p.value.as_str()))
        .map(|p| format!("{}={}", p.key, p.value))
        .collect();
    let phantoms = final_state
        .iter()
        .flat_map(|(key, values)| values.iter().map(move |v| (key, v)))
        .filter(|(_, v)| !written.contains(v.as_str()))
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let during = |p: &&&Put| {
        fault_windows
            .iter()
            .any(|(a, b)| p.invoked >= *a && p.invoked < *b)
    };
    let faulted: Vec<&&Put> = puts.iter().filter(during).collect();
    let availability = (!faulted.is_empty()).then(|| {
        let ok = faulted.iter().filter(|p| p.outcome == Outcome::Ok).count();
        ok as f64 / faulted.len() as f64
    });
    Report {
        puts_ok: count(Outcome::Ok),
        puts_failed: count(Outcome::Failed),
        puts_unknown: count(Outcome::Unknown),
        gets_ok: histories.iter().map(|h| h.gets_ok).sum(),
        gets_failed: histories.iter().map(|h| h.gets_failed).sum(),
        lost,
        phantoms,
        availability_under_faults: availability,
        converged_after: None,
        faults: fault_windows.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(key: &str, value: &str, seen: &[&str], outcome: Outcome) -> Put {
        Put {
            process: 0,
            key: key.into(),
            value: value.into(),
            seen: seen.iter().map(|s| s.to_string()).collect(),
            invoked: Duration::from_secs(1),
            completed: Duration::from_secs(2),
            outcome,
        }
    }

    fn state(entries: &[(&str, &[&str])]) -> BTreeMap<String, BTreeSet<String>> {
        let set = |values: &[&str]| values.iter().map(|v| v.to_string()).collect();
        entries
            .iter()
            .map(|(k, v)| (k.to_string(), set(v)))
            .collect()
    }

    #[test]
    fn a_missing_acknowledged_write_is_lost_unless_a_later_put_covered_it() {
        let history = History {
            puts: vec![
                put("k", "a", &[], Outcome::Ok),
                put("k", "b", &["a"], Outcome::Unknown),
                put("k", "c", &[], Outcome::Ok),
            ],
            ..History::default()
        };
        // "a" is covered by "b" (even of unknown outcome); "c" is lost.
        let report = check(
            std::slice::from_ref(&history),
            &state(&[("k", &["b"])]),
            &[],
        );
        assert_eq!(report.lost, vec!["k=c"]);
        let report = check(&[history], &state(&[("k", &["b", "c"])]), &[]);
        assert!(report.lost.is_empty());
    }

    #[test]
    fn a_value_nobody_wrote_is_a_phantom() {
        let history = History {
            puts: vec![put("k", "a", &[], Outcome::Ok)],
            ..History::default()
        };
        let report = check(&[history], &state(&[("k", &["a", "zzz"])]), &[]);
        assert_eq!(report.phantoms, vec!["k=zzz"]);
    }

    #[test]
    fn availability_counts_puts_invoked_inside_fault_windows() {
        let mut late = put("k", "b", &[], Outcome::Failed);
        late.invoked = Duration::from_secs(5);
        let history = History {
            puts: vec![put("k", "a", &[], Outcome::Ok), late],
            ..History::default()
        };
        let windows = [(Duration::from_secs(0), Duration::from_secs(10))];
        let report = check(&[history], &state(&[("k", &["a"])]), &windows);
        assert_eq!(report.availability_under_faults, Some(0.5));
    }
}
