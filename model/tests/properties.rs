//! Bounded model checks that run to completion in `cargo test`: every `always`
//! property holds, the `sometimes` properties each configuration exists for are
//! reached, and the unique state counts are pinned, so a change that shrinks (or
//! grows) the search shows up here. Counts move when the core's behaviour changes:
//! re-measure with `cargo run -p dynamo-model --release -- check PRESET` and update
//! both this file and `model/README.md`.

use dynamo_model::properties::{HINT_DELIVERED, QUORUM_FAILED, READ_REPAIRED, SIBLINGS_CREATED};
use dynamo_model::run::{check, verdict, Options, Verdict};
use dynamo_model::ModelConfig;

/// Check `config` fully; assert no `always` property fails, `reached` are reached.
fn assert_checked(config: ModelConfig, reached: &[&str]) -> usize {
    let outcome = check(config, &Options::default());
    for (expectation, name, _) in dynamo_model::properties::all() {
        let found = outcome.discovered.contains(name);
        match verdict(expectation, found) {
            Verdict::Violated => {
                let path = outcome.paths.iter().find(|(n, _)| *n == name);
                panic!("{name} violated:\n{}", path.map_or("", |(_, p)| p));
            }
            Verdict::Unreached if reached.contains(&name) => panic!("{name} never reached"),
            _ => {}
        }
    }
    outcome.unique_states
}

#[test]
fn strict_quorums_hold_and_reach_read_repair_and_quorum_failure() {
    let states = assert_checked(ModelConfig::strict(), &[READ_REPAIRED, QUORUM_FAILED]);
    assert_eq!(states, 1_787);
}

#[test]
fn concurrent_puts_hold_and_create_siblings() {
    let states = assert_checked(ModelConfig::siblings(), &[SIBLINGS_CREATED, QUORUM_FAILED]);
    assert_eq!(states, 5_724);
}

#[test]
fn sloppy_quorum_holds_and_hands_off_the_hint() {
    let states = assert_checked(ModelConfig::sloppy(), &[HINT_DELIVERED, QUORUM_FAILED]);
    assert_eq!(states, 199);
}

#[test]
fn a_crash_on_a_lossy_network_loses_no_acknowledged_write() {
    let states = assert_checked(ModelConfig::crash(), &[QUORUM_FAILED]);
    assert_eq!(states, 1_034);
}

#[test]
fn put_then_get_with_a_crash_on_a_lossy_network_holds() {
    let states = assert_checked(ModelConfig::faults_small(), &[READ_REPAIRED, QUORUM_FAILED]);
    assert_eq!(states, 63_476);
}

#[test]
fn concurrent_puts_with_a_crash_on_a_lossy_network_hold() {
    let states = assert_checked(
        ModelConfig::siblings_faults(),
        &[SIBLINGS_CREATED, QUORUM_FAILED],
    );
    assert_eq!(states, 354_942);
}

#[test]
fn concurrent_increments_with_a_crash_on_a_lossy_network_all_count() {
    let states = assert_checked(ModelConfig::counter(), &[QUORUM_FAILED]);
    assert_eq!(states, 480_328);
}
