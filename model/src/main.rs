fn main() {
    let which = std::env::args().nth(1).unwrap_or_default();
    let mut config = match which.as_str() {
        "sloppy" => dynamo_model::ModelConfig::sloppy(),
        "faults" => dynamo_model::ModelConfig::faults(),
        _ => dynamo_model::ModelConfig::strict(),
    };
    if std::env::var("NOFULL").is_ok() {
        config.full_invariants = false;
    }
    if std::env::var("SMALL").is_ok() {
        config.clients = vec![vec![
            dynamo_model::config::ClientOp::put(0, 1, 0),
            dynamo_model::config::ClientOp::get(0, 1),
        ]];
    }
    let outcome = dynamo_model::run::check(config, dynamo_model::run::Search::Dfs, 2, None);
    println!(
        "{:?} {} unique, {} total, depth {}",
        outcome.elapsed, outcome.unique_states, outcome.states, outcome.max_depth
    );
    for (name, path) in outcome.paths {
        println!("{name}:\n{path}");
    }
}
