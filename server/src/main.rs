//! The `dynamo` binary (issue 4). The server does not exist yet; this binary says so
//! instead of pretending.

fn main() {
    eprintln!("dynamo: the server is not built yet; only the core library exists (see README.md)");
    std::process::exit(2);
}
