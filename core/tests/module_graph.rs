//! The core's modules form a layered graph: no module imports one that imports it back
//! (issue 16). `node.rs` sits on top and dispatches; each sub-state machine imports only
//! the modules below it. Reads the sources, so a new cycle fails here at once.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Module -> the core modules its non-test, non-comment code names through `crate::`.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let modules: BTreeSet<String> = std::fs::read_dir(&src)
        .expect("core/src is readable")
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            let stem = path.file_stem()?.to_str()?.to_string();
            (path.extension()? == "rs" && stem != "lib").then_some(stem)
        })
        .collect();
    let mut graph = BTreeMap::new();
    for module in &modules {
        let text = std::fs::read_to_string(src.join(format!("{module}.rs"))).expect("readable");
        let code = text
            .split("#[cfg(test)]\nmod tests")
            .next()
            .unwrap_or_default();
        // Code only: a doc link to another module is not a dependency.
        let code: String = code
            .lines()
            .filter(|line| !line.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        let deps = code
            .split("crate::")
            .skip(1)
            .map(|rest| {
                rest.chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_')
            })
            .map(String::from_iter)
            .filter(|dep| dep != module && modules.contains(dep))
            .collect();
        graph.insert(module.clone(), deps);
    }
    graph
}

/// A path that returns to its start, if the graph has one.
fn cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        let here = path.last().expect("a path is never empty").clone();
        for dep in &graph[&here] {
            if let Some(at) = path.iter().position(|m| m == dep) {
                let mut found = path[at..].to_vec();
                found.push(dep.clone());
                return Some(found);
            }
            if !done.contains(dep) {
                path.push(dep.clone());
                if let Some(found) = visit(graph, path, done) {
                    return Some(found);
                }
                path.pop();
            }
        }
        done.insert(here);
        None
    }
    let mut done = BTreeSet::new();
    for module in graph.keys() {
        if !done.contains(module) {
            if let Some(found) = visit(graph, &mut vec![module.clone()], &mut done) {
                return Some(found);
            }
        }
    }
    None
}

#[test]
fn core_modules_import_each_other_without_a_cycle() {
    let graph = graph();
    assert!(graph.len() > 10, "found the modules: {graph:?}");
    assert!(graph["node"].contains("coordinator"), "{graph:?}");
    if let Some(found) = cycle(&graph) {
        panic!("import cycle between core modules: {}", found.join(" -> "));
    }
}

#[test]
fn a_cycle_is_found_when_there_is_one() {
    let mut graph = graph();
    graph
        .get_mut("coordinator")
        .expect("a coordinator module")
        .insert("node".to_string());
    let found = cycle(&graph).expect("coordinator -> node -> coordinator");
    assert_eq!(found.first(), found.last());
}
