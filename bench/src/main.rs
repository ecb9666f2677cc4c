//! `dynamo-bench`: measure a dynamo cluster, Redis or etcd with a YCSB-style load
//! (see the library's documentation for the workloads, targets and report).

/// mimalloc, as in the `dynamo` binary: the generator's requests and replies cross
/// tokio workers too, and the figures compared with earlier runs were taken with it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use anyhow::{Context as _, Result};
use clap::Parser;
use dynamo_bench::BenchArgs;

#[derive(Parser)]
#[command(
    name = "dynamo-bench",
    version,
    about = "Measure a cluster (or any RESP server, or etcd) with a YCSB-style load"
)]
struct Cli {
    #[command(flatten)]
    args: BenchArgs,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Runtime::new().context("start the tokio runtime")?;
    runtime.block_on(dynamo_bench::command(cli.args))?;
    Ok(())
}
