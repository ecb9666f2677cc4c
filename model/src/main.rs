//! `dynamo-model`: check a configuration, or explore it in stateright's web Explorer.
//!
//! ```text
//! cargo run -p dynamo-model --release -- check [PRESET] [OPTIONS]
//! cargo run -p dynamo-model --release -- explore [PRESET] [OPTIONS] [--address localhost:3000]
//! cargo run -p dynamo-model --release -- presets
//! ```

use dynamo_model::config::{parse_mutant, parse_script, ModelConfig, NetworkKind, MUTANTS};
use dynamo_model::run::{check, Search};
use dynamo_model::{properties, run};
use stateright::Model;
use std::process::ExitCode;

const USAGE: &str = "usage: dynamo-model check|explore [PRESET] [OPTIONS] | mutants | presets

  check     check every property of a configuration (exit status 1 on a violation)
  explore   serve stateright's Explorer for a configuration
  mutants   check each mutant on the tested presets; print which properties catch it
  presets   describe the presets

presets: strict (default), siblings, sloppy, crash, faults-small, siblings-faults,
         target

options:
  --nodes N              nodes (1..=5)
  --partitions P         ring partitions (power of two, >= nodes)
  --n N --r R --w W      replication factor, read and write quorums
  --client SCRIPT        replace the clients; repeat once per client;
                         SCRIPT: 'put k0 1 n1, get k0 n2, del k0 n3, incr k0 n1'
  --network KIND         unordered (default) | ordered | duplicating
  --lossy                the network may lose any message
  --crashes C            crashes (each with a restart) in a run
  --rounds G,A,H         gossip, anti-entropy, handoff firings per node
  --rounds-on n1,n3      only these nodes run periodic rounds (default: all)
  --mutant NAME          none | ack-before-local-write | delete-hint-before-ack |
                         read-quorum-ignores-r | stand-in-without-hint |
                         counter-merge-by-max
  --heal-rounds K        periodic rounds the convergence check runs
  --no-full-invariants   skip the Merkle rebuild after each writing step
  --bfs | --dfs          search order (default dfs)
  --threads T            checker threads (default 2)
  --stop-at-failure      stop at the first counterexample
  --address ADDR         explore: where to serve (default localhost:3000)";

/// The presets `cargo test` checks (model/tests/properties.rs); `target` is not one.
const TESTED_PRESETS: [&str; 7] = [
    "strict",
    "siblings",
    "sloppy",
    "crash",
    "faults-small",
    "siblings-faults",
    "counter",
];

/// Presets too big for `cargo test` (`presets` lists them after the tested ones).
const UNTESTED_PRESETS: [&str; 1] = ["target"];

/// Parsed command line.
struct Args {
    command: String,
    config: ModelConfig,
    search: Search,
    threads: usize,
    stop_at_failure: bool,
    address: String,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match parse(&args).and_then(run_command) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn preset(name: &str) -> Option<ModelConfig> {
    match name {
        "strict" => Some(ModelConfig::strict()),
        "siblings" => Some(ModelConfig::siblings()),
        "sloppy" => Some(ModelConfig::sloppy()),
        "crash" => Some(ModelConfig::crash()),
        "faults-small" => Some(ModelConfig::faults_small()),
        "siblings-faults" => Some(ModelConfig::siblings_faults()),
        "target" => Some(ModelConfig::target()),
        "counter" => Some(ModelConfig::counter()),
        _ => None,
    }
}

fn parse(args: &[String]) -> Result<Args, String> {
    let command = args.first().cloned().unwrap_or_default();
    let mut rest = args.iter().skip(1).peekable();
    let mut config = match rest.peek().and_then(|name| preset(name)) {
        Some(config) => {
            rest.next();
            config
        }
        None => ModelConfig::strict(),
    };
    let mut parsed = Args {
        command,
        config: config.clone(),
        search: Search::Dfs,
        threads: 2,
        stop_at_failure: false,
        address: "localhost:3000".to_string(),
    };
    let mut clients = Vec::new();
    while let Some(flag) = rest.next() {
        let mut value = || rest.next().cloned().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--nodes" => config.nodes = number(&value()?)?,
            "--partitions" => config.partitions = number(&value()?)?,
            "--n" => config.replication_factor = number(&value()?)?,
            "--r" => config.read_quorum = number(&value()?)?,
            "--w" => config.write_quorum = number(&value()?)?,
            "--client" => clients.push(parse_script(&value()?).map_err(|e| e.to_string())?),
            "--network" => config.network = network(&value()?)?,
            "--lossy" => config.lossy = true,
            "--crashes" => config.crashes = number(&value()?)?,
            "--rounds" => config.rounds = rounds(&value()?)?,
            "--rounds-on" => config.rounds_on = node_list(&value()?)?,
            "--mutant" => config.mutant = parse_mutant(&value()?).map_err(|e| e.to_string())?,
            "--heal-rounds" => config.heal_rounds = number(&value()?)?,
            "--no-full-invariants" => config.full_invariants = false,
            "--bfs" => parsed.search = Search::Bfs,
            "--dfs" => parsed.search = Search::Dfs,
            "--threads" => parsed.threads = number(&value()?)?,
            "--stop-at-failure" => parsed.stop_at_failure = true,
            "--address" => parsed.address = value()?,
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    if !clients.is_empty() {
        config.clients = clients;
    }
    config.validate().map_err(|e| e.to_string())?;
    parsed.config = config;
    Ok(parsed)
}

fn number<T: std::str::FromStr>(text: &str) -> Result<T, String> {
    text.parse()
        .map_err(|_| format!("{text:?} is not a number"))
}

fn network(text: &str) -> Result<NetworkKind, String> {
    match text {
        "unordered" => Ok(NetworkKind::Unordered),
        "ordered" => Ok(NetworkKind::Ordered),
        "duplicating" => Ok(NetworkKind::Duplicating),
        other => Err(format!("unknown network {other:?}")),
    }
}

fn node_list(text: &str) -> Result<Vec<usize>, String> {
    text.split(',')
        .map(|node| {
            node.trim()
                .strip_prefix('n')
                .and_then(|n| n.parse::<usize>().ok())
                .and_then(|n| n.checked_sub(1))
                .ok_or(format!("bad node {node:?}: want n1, n2, ..."))
        })
        .collect()
}

fn rounds(text: &str) -> Result<dynamo_model::config::Rounds, String> {
    let parts: Vec<u8> = text.split(',').map(number).collect::<Result<_, _>>()?;
    let [gossip, anti_entropy, handoff] = parts[..] else {
        return Err(format!("--rounds wants G,A,H, got {text:?}"));
    };
    Ok(dynamo_model::config::Rounds {
        gossip,
        anti_entropy,
        handoff,
    })
}

fn run_command(args: Args) -> Result<ExitCode, String> {
    match args.command.as_str() {
        "check" => Ok(run_check(args)),
        "explore" => {
            println!("{}", describe(&args.config));
            println!("serving the Explorer on http://{}", args.address);
            let checker = args.config.into_model().checker().threads(args.threads);
            // Blocks while the Explorer serves.
            let _ = checker.serve(args.address.as_str());
            Ok(ExitCode::SUCCESS)
        }
        "mutants" => {
            mutant_matrix(&args);
            Ok(ExitCode::SUCCESS)
        }
        "presets" => {
            for name in TESTED_PRESETS.iter().chain(&UNTESTED_PRESETS) {
                let config = preset(name).expect("listed presets exist");
                println!("{name}:\n{}\n", describe(&config));
            }
            Ok(ExitCode::SUCCESS)
        }
        other => Err(format!("unknown command {other:?}")),
    }
}

fn run_check(args: Args) -> ExitCode {
    println!("{}", describe(&args.config));
    let failures = properties::all()
        .into_iter()
        .filter(|(expectation, _, _)| *expectation == stateright::Expectation::Always)
        .map(|(_, name, _)| name)
        .collect();
    let stop_at = args.stop_at_failure.then_some(failures);
    let options = run::Options {
        search: args.search,
        threads: args.threads,
        stop_at,
        progress: true,
    };
    let outcome = check(args.config.clone(), &options);
    println!(
        "{} unique states ({} generated), depth {}, {:.1}s",
        outcome.unique_states,
        outcome.states,
        outcome.max_depth,
        outcome.elapsed.as_secs_f64()
    );
    let mut failed = false;
    for (expectation, name, _) in properties::all() {
        let found = outcome.discovered.contains(name);
        let verdict = run::verdict(expectation, found);
        failed |= verdict == run::Verdict::Violated;
        println!("{verdict:>10}  {name}");
    }
    for (name, path) in &outcome.paths {
        let always = properties::all()
            .iter()
            .any(|(e, n, _)| n == name && *e == stateright::Expectation::Always);
        if always {
            println!("\ncounterexample for {name:?}:\n{path}");
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// For each mutant and tested preset, the `always` properties the full check violates.
fn mutant_matrix(args: &Args) {
    let options = run::Options {
        search: args.search,
        threads: args.threads,
        stop_at: None,
        progress: false,
    };
    println!("| mutant | preset | unique states | violated |");
    println!("|---|---|---|---|");
    for (mutant_name, mutant) in MUTANTS {
        for preset_name in TESTED_PRESETS {
            let mut config = preset(preset_name).expect("listed presets exist");
            config.mutant = mutant;
            let outcome = check(config, &options);
            let violated: Vec<&str> = properties::all()
                .into_iter()
                .filter(|(e, name, _)| {
                    run::verdict(e.clone(), outcome.discovered.contains(name))
                        == run::Verdict::Violated
                })
                .map(|(_, name, _)| name)
                .collect();
            let violated = if violated.is_empty() {
                "-".to_string()
            } else {
                violated.join("; ")
            };
            println!(
                "| {mutant_name} | {preset_name} | {} | {violated} |",
                outcome.unique_states
            );
        }
    }
}

/// The configuration in a few lines.
fn describe(config: &ModelConfig) -> String {
    let mutant = MUTANTS
        .iter()
        .find(|(_, m)| *m == config.mutant)
        .map_or("?", |(name, _)| name);
    let homes: Vec<String> = (0..config.keys().max(1))
        .map(|key| format!("k{key} -> {:?}", config.homes(key)))
        .collect();
    let model = config.clone().into_model();
    format!(
        "nodes {} partitions {} N={} R={} W={} network {:?}{} crashes {} rounds {:?} on {:?} mutant {}\n\
         homes: {}\nclients: {:?}\nactors: {}",
        config.nodes,
        config.partitions,
        config.replication_factor,
        config.read_quorum,
        config.write_quorum,
        config.network,
        if config.lossy { " lossy" } else { "" },
        config.crashes,
        config.rounds,
        config.rounds_on,
        mutant,
        homes.join(", "),
        config.clients,
        model.init_states()[0].actor_states.len(),
    )
}
