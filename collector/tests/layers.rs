//! The collector's top-level modules form layers that only point down: read from the sources, every
//! `crate::module` a module names (outside comments) must belong to its own layer or one below it, and no
//! module may lead back to itself. `docs/architecture.md` draws the same layers.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The layers, bottom first. A module may use modules of its own layer (without a cycle) and of layers below.
const LAYERS: [&[&str]; 6] = [
    // Leaves: helpers that know nothing of the collector (the engine, contracts and reports are the crate
    // `slaprobe-sla`, below all of these).
    &["results_file", "digest", "outage", "claims", "postgres_tls"],
    // What is configured and what is stored.
    &["config", "store"],
    // The slice ledger and the one query layer on it, the metrics registry that its figures and ingest's counts
    // fill, and the OpenSLO documents made of the configured contracts.
    &["ledger", "views", "metrics", "openslo"],
    // What runs against the store: ingest, notifications, alerting, retention, reloads, the SQLite→PostgreSQL
    // move, period close, the vendors' status pages read, and the replicas' heartbeats.
    &["ingest", "notify", "alerting", "retention", "reload", "migrate", "bundle", "closing", "status_pages", "cluster"],
    // The two faces: the HTTP listener and the one-shot commands.
    &["http", "cli"],
    // `serve`, which starts everything (the binary's `main` sits above it).
    &["serve"],
];

/// Each top-level module and the other top-level modules its files name.
fn dependencies(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut pending = vec![src.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("read the sources") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            if path.extension().is_none_or(|extension| extension != "rs") {
                continue;
            }
            let relative = path.strip_prefix(src).expect("under src");
            let first = relative.components().next().expect("a component").as_os_str().to_string_lossy();
            let module = first.trim_end_matches(".rs").to_owned();
            if module == "main" || module == "lib" {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("read a source file");
            let named = graph.entry(module.clone()).or_default();
            for line in text.lines().filter(|line| !line.trim_start().starts_with("//")) {
                for (at, _) in line.match_indices("crate::") {
                    let rest = &line[at + "crate::".len()..];
                    let name: String = rest.chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect();
                    if !name.is_empty() && name != module {
                        named.insert(name);
                    }
                }
            }
        }
    }
    graph
}

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

/// A cycle through `start`, if there is one: the path back to it.
fn cycle_through(graph: &BTreeMap<String, BTreeSet<String>>, start: &str) -> Option<Vec<String>> {
    let mut stack = vec![(start.to_owned(), vec![start.to_owned()])];
    let mut seen = BTreeSet::new();
    while let Some((node, path)) = stack.pop() {
        for next in graph.get(&node).into_iter().flatten() {
            if next == start {
                return Some([path.clone(), vec![start.to_owned()]].concat());
            }
            if seen.insert(next.clone()) {
                stack.push((next.clone(), [path.clone(), vec![next.clone()]].concat()));
            }
        }
    }
    None
}

#[test]
fn every_module_has_a_layer_and_uses_only_its_own_or_lower_ones() {
    let graph = dependencies(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    assert!(graph.len() > 10, "the sources were read: {graph:?}");
    assert!(graph["http"].contains("views"), "the reader sees `crate::` paths: {graph:?}");
    let unplaced: Vec<&String> = graph.keys().filter(|module| layer_of(module).is_none()).collect();
    assert!(unplaced.is_empty(), "modules with no layer in LAYERS (place them): {unplaced:?}");
    let upward: Vec<String> = graph
        .iter()
        .flat_map(|(module, used)| used.iter().map(move |used| (module, used)))
        .filter(|(module, used)| layer_of(used) > layer_of(module))
        .map(|(module, used)| format!("{module} (layer {:?}) → {used} (layer {:?})", layer_of(module), layer_of(used)))
        .collect();
    assert!(upward.is_empty(), "edges that point up:\n{}", upward.join("\n"));
}

#[test]
fn no_module_leads_back_to_itself() {
    let graph = dependencies(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    let cycles: Vec<String> =
        graph.keys().filter_map(|module| cycle_through(&graph, module)).map(|cycle| cycle.join(" → ")).collect();
    assert!(cycles.is_empty(), "modules that lead back to themselves:\n{}", cycles.join("\n"));
}
