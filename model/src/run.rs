//! Checking helpers shared by the binary and the tests.

use crate::actor::DynamoModel;
use crate::config::ModelConfig;
use stateright::report::WriteReporter;
use stateright::{Checker, Expectation, HasDiscoveries, Model, Path};
use std::collections::BTreeSet;
use std::fmt;
use std::time::{Duration, Instant};

/// How to walk the state space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Search {
    /// Depth first: least memory (~a fingerprint per state); fastest with 2 threads.
    Dfs,
    /// Breadth first: near-shortest counterexamples with one thread; more memory.
    Bfs,
}

/// How to run a check.
#[derive(Clone, Debug)]
pub struct Options {
    pub search: Search,
    pub threads: usize,
    /// Stop once any of these properties has a discovery.
    pub stop_at: Option<BTreeSet<&'static str>>,
    /// Print the checker's progress to stderr every few seconds.
    pub progress: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            search: Search::Dfs,
            threads: 2,
            stop_at: None,
            progress: false,
        }
    }
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
    /// Each discovery's path, one action per line.
    pub paths: Vec<(&'static str, String)>,
}

/// A property's result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Holds,
    Violated,
    Reached,
    Unreached,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            Verdict::Holds => "holds",
            Verdict::Violated => "VIOLATED",
            Verdict::Reached => "reached",
            Verdict::Unreached => "unreached",
        };
        f.pad(text)
    }
}

/// The verdict for a property of `expectation` that has (or lacks) a discovery.
pub fn verdict(expectation: Expectation, discovered: bool) -> Verdict {
    match (expectation, discovered) {
        (Expectation::Sometimes, true) => Verdict::Reached,
        (Expectation::Sometimes, false) => Verdict::Unreached,
        (_, true) => Verdict::Violated,
        (_, false) => Verdict::Holds,
    }
}

/// Check `config`: to completion, or until a property of `options.stop_at` is found.
pub fn check(config: ModelConfig, options: &Options) -> Outcome {
    let started = Instant::now();
    let model: DynamoModel = config.into_model();
    let mut builder = model.checker().threads(options.threads.max(1));
    if let Some(names) = &options.stop_at {
        builder = builder.finish_when(HasDiscoveries::AnyOf(names.clone()));
    }
    let mut stderr = std::io::stderr();
    let mut reporter = WriteReporter::new(&mut stderr);
    match (options.search, options.progress) {
        (Search::Dfs, false) => summarise(builder.spawn_dfs().join(), started),
        (Search::Bfs, false) => summarise(builder.spawn_bfs().join(), started),
        (Search::Dfs, true) => summarise(builder.spawn_dfs().report(&mut reporter), started),
        (Search::Bfs, true) => summarise(builder.spawn_bfs().report(&mut reporter), started),
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

type ModelPath = Path<<DynamoModel as Model>::State, <DynamoModel as Model>::Action>;

fn format_path(model: &DynamoModel, path: &ModelPath) -> String {
    path.clone()
        .into_actions()
        .iter()
        .map(|action| format!("  {}\n", model.format_action(action)))
        .collect()
}
