//! The house rules for the source tree, checked so they cannot erode:
//! no import cycle between the crate's top-level modules, no source file
//! too long to read in one sitting, and `unsafe` only in the C layer.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The most lines of code (before any `#[cfg(test)]`) a source file may hold.
const MAX_CODE_LINES: usize = 800;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn sources() -> Vec<(String, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let rel = p.strip_prefix(&src).unwrap().to_string_lossy().into_owned();
            (rel, std::fs::read_to_string(&p).unwrap())
        })
        .collect()
}

/// `client/rpc.rs` → `client`; `lib.rs` → `lib`.
fn top_module(rel: &str) -> String {
    let first = rel.split('/').next().unwrap();
    first.trim_end_matches(".rs").to_owned()
}

/// The code of a file before its unit tests.
fn code(text: &str) -> &str {
    text.find("#[cfg(test)]").map_or(text, |i| &text[..i])
}

/// Identifiers following `crate::` in `text` (comments skipped).
fn crate_paths(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim_start();
        if line.starts_with("//") {
            continue;
        }
        let mut rest = line;
        while let Some(i) = rest.find("crate::") {
            let after = &rest[i + 7..];
            let name: String = after
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                out.push(name);
            }
            rest = after;
        }
    }
    out
}

/// Which top-level module each name re-exported at the crate root comes
/// from (`pub use client::{Client, ...}` maps `Client` to `client`).
fn root_reexports(lib: &str) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    let flat = lib.replace('\n', " ");
    for stmt in flat.split(';') {
        let Some(rest) = stmt.trim().strip_prefix("pub use ") else {
            continue;
        };
        let module = rest.split("::").next().unwrap().trim().to_owned();
        let names = rest
            .split_once('{')
            .map(|(_, n)| n.trim_end_matches('}').to_owned())
            .unwrap_or_else(|| rest.rsplit("::").next().unwrap().to_owned());
        for name in names.split(',') {
            let name = name.trim();
            if !name.is_empty() {
                map.insert(name.to_owned(), module.clone());
            }
        }
    }
    map
}

#[test]
fn top_level_modules_form_no_import_cycle() {
    let files = sources();
    let lib = &files.iter().find(|(r, _)| r == "lib.rs").unwrap().1;
    let reexports = root_reexports(lib);
    let modules: BTreeSet<String> = files.iter().map(|(r, _)| top_module(r)).collect();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (rel, text) in &files {
        let from = top_module(rel);
        if from == "lib" {
            continue;
        }
        for name in crate_paths(code(text)) {
            let to = if modules.contains(&name) {
                name
            } else if let Some(m) = reexports.get(&name) {
                m.clone()
            } else {
                continue;
            };
            if to != from && to != "lib" {
                edges.entry(from.clone()).or_default().insert(to);
            }
        }
    }
    // Depth-first search for a back edge.
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) {
        if done.contains(node) {
            return;
        }
        if let Some(pos) = stack.iter().position(|n| n == node) {
            let mut cycle = stack[pos..].to_vec();
            cycle.push(node.to_owned());
            panic!("import cycle between modules: {}", cycle.join(" -> "));
        }
        stack.push(node.to_owned());
        for next in edges.get(node).into_iter().flatten() {
            visit(next, edges, stack, done);
        }
        stack.pop();
        done.insert(node.to_owned());
    }
    let mut done = BTreeSet::new();
    for m in &modules {
        visit(m, &edges, &mut Vec::new(), &mut done);
    }
    // The checker itself sees edges (a broken parser would pass vacuously).
    assert!(
        edges.get("client").is_some_and(|e| e.contains("http")),
        "{edges:?}"
    );
    assert!(
        edges.get("upload").is_some_and(|e| e.contains("http")),
        "{edges:?}"
    );
}

#[test]
fn no_source_file_is_too_long_to_read_in_one_sitting() {
    let mut long = Vec::new();
    for (rel, text) in sources() {
        let n = code(&text)
            .lines()
            .filter(|l| {
                let t = l.trim();
                !t.is_empty() && !t.starts_with("//")
            })
            .count();
        if n > MAX_CODE_LINES {
            long.push(format!("{rel}: {n} lines of code"));
        }
    }
    assert!(
        long.is_empty(),
        "split by concern (at most {MAX_CODE_LINES}): {long:?}"
    );
}

#[test]
fn unsafe_lives_only_in_the_c_layer() {
    for (rel, text) in sources() {
        if rel.starts_with("ffi") {
            continue;
        }
        for (i, line) in code(&text).lines().enumerate() {
            let t = line.trim_start();
            if t.starts_with("//") {
                continue;
            }
            assert!(
                !t.contains("unsafe {") && !t.contains("unsafe fn") && !t.contains("unsafe impl"),
                "{rel}:{}: unsafe outside src/ffi",
                i + 1
            );
        }
    }
}
