//! Checking helpers shared by the binary and the tests.

use crate::actor::DynamoModel;
use crate::config::ModelConfig;
use stateright::{Checker, HasDiscoveries, Model};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// How to walk the state space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Search {
    /// Depth first: least memory (~a fingerprint per state); fastest with 2 threads.
    Dfs,
    /// Breadth first: near-shortest counterexamples with one thread; more memory.
    Bfs,
}

/// What a check found.
#[derive(Debug)]
pub struct Outcome {
    pub unique_states: usize,
    pub states: usize,
    pub max_depth: usize,
    pub elapsed: Duration,
    /// Property names with a discovery: examples for `sometimes`, counterexamples
    /// for `always`.
    pub discovered: BTreeSet<&'static str>,
    /// Each discovery's path, rendered.
    pub paths: Vec<(&'static str, String)>,
}

/// Check `config` to completion (or until every property in `stop_at` is discovered).
pub fn check(
    config: ModelConfig,
    search: Search,
    threads: usize,
    stop_at: Option<BTreeSet<&'static str>>,
) -> Outcome {
    let started = Instant::now();
    let model: DynamoModel = config.into_model();
    let mut builder = model.checker().threads(threads.max(1));
    if let Some(names) = stop_at {
        builder = builder.finish_when(HasDiscoveries::AnyOf(names));
    }
    match search {
        Search::Dfs => summarise(
            builder
                .spawn_dfs()
                .report(&mut stateright::report::WriteReporter::new(
                    &mut std::io::stderr(),
                )),
            started,
        ),
        Search::Bfs => summarise(builder.spawn_bfs().join(), started),
    }
}

fn summarise(checker: impl Checker<DynamoModel>, started: Instant) -> Outcome {
    let discoveries = checker.discoveries();
    let model = checker.model();
    let paths = discoveries
        .iter()
        .map(|(name, path)| (*name, format_path(model, path)))
        .collect();
    Outcome {
        unique_states: checker.unique_state_count(),
        states: checker.state_count(),
        max_depth: checker.max_depth(),
        elapsed: started.elapsed(),
        discovered: discoveries.keys().copied().collect(),
        paths,
    }
}

fn format_path(
    model: &DynamoModel,
    path: &stateright::Path<<DynamoModel as Model>::State, <DynamoModel as Model>::Action>,
) -> String {
    path.clone()
        .into_actions()
        .iter()
        .map(|action| format!("  {}\n", model.format_action(action)))
        .collect()
}
