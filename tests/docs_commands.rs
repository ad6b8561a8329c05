//! Every shell command in `README.md` and `docs/*.md` (the ```sh blocks) is
//! run here, or checked against what it names, so a README that drifts from
//! the code fails `cargo test` (and so CI):
//!
//! - the CLI commands (`cargo run ... --example prepare_upload -- ...`) are
//!   run as written, in a scratch directory, against the bundled emulator;
//! - `make ...` is run with `-n` (every target and variable must exist; the
//!   recursive builds print their commands), `cmake -S ... -B ...` is
//!   configured for real in a scratch directory;
//! - the documented `cargo rustc` lines are the Makefile's own;
//! - `cargo test/bench/build/fuzz ...` name tests, benches, features,
//!   profiles, fuzz targets and files that exist;
//! - link lines (`cc`, a cross `...-gcc`) name the Makefile's system
//!   libraries, and `apt-get` the packages the tests need (in
//!   docs/platforms.md: packages the cross toolchain of `.ci/cross` has);
//! - `.ci/cross`, `rustup target add` and `dpkg --add-architecture` name
//!   what `.ci/cross` knows;
//! - the rest names what runs it (`.ci/run`, the C API tests).
//!
//! A command of a kind this file does not know fails the test: add a check.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use common::TempDir;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
}

/// One documented command: where it is, the environment it sets, its words.
#[derive(Debug)]
struct Doc {
    place: String,
    env: Vec<(String, String)>,
    words: Vec<String>,
}

impl Doc {
    fn text(&self) -> String {
        self.words.join(" ")
    }
}

/// The commands of every ```sh block: continuation lines joined, comments
/// dropped, `a && b` split, leading `NAME=value` words taken as the
/// environment.
fn documented_commands() -> Vec<Doc> {
    let mut files = vec!["README.md".to_owned()];
    let mut docs: Vec<String> = std::fs::read_dir(root().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".md"))
        .map(|n| format!("docs/{n}"))
        .collect();
    docs.sort();
    files.extend(docs);
    let mut out = Vec::new();
    for file in files {
        let text = read(&file);
        let mut in_sh = false;
        let mut pending = String::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("```") {
                in_sh = !in_sh && line.trim() == "```sh";
                continue;
            }
            if !in_sh {
                continue;
            }
            let line = strip_comment(line);
            if let Some(head) = line.trim_end().strip_suffix('\\') {
                pending.push_str(head);
                pending.push(' ');
                continue;
            }
            pending.push_str(&line);
            let logical = std::mem::take(&mut pending);
            for part in logical.split("&&") {
                let mut words = split_words(part);
                let mut env = Vec::new();
                while let Some((k, v)) = words.first().and_then(|w| assignment(w)) {
                    env.push((k, v));
                    words.remove(0);
                }
                if !words.is_empty() {
                    out.push(Doc {
                        place: format!("{file}:{}", i + 1),
                        env,
                        words,
                    });
                }
            }
        }
    }
    out
}

/// The line without a `# comment` (one starting the line, or after
/// whitespace outside `$(...)`).
fn strip_comment(line: &str) -> String {
    let mut depth = 0;
    let mut prev = ' ';
    for (i, c) in line.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            '#' if depth == 0 && prev.is_whitespace() => return line[..i].to_owned(),
            _ => {}
        }
        prev = c;
    }
    line.to_owned()
}

/// Words, with each `$( ... )` kept as one word.
fn split_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut depth = 0;
    for c in text.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            _ => {}
        }
        if c.is_whitespace() && depth == 0 {
            if !word.is_empty() {
                words.push(std::mem::take(&mut word));
            }
        } else {
            word.push(c);
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

fn assignment(word: &str) -> Option<(String, String)> {
    let (k, v) = word.split_once('=')?;
    let is_name = !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    is_name.then(|| (k.to_owned(), v.to_owned()))
}

/// What a flag of `words` is given (`--flag value` or `--flag=value`).
fn flag_values(words: &[String], flag: &str) -> Vec<String> {
    let mut values = Vec::new();
    for (i, w) in words.iter().enumerate() {
        if w == flag {
            if let Some(v) = words.get(i + 1) {
                values.push(v.clone());
            }
        } else if let Some(v) = w.strip_prefix(&format!("{flag}=")) {
            values.push(v.to_owned());
        }
    }
    values
}

/// The names in a `[section]` of a TOML file: `name = ...` lines, or
/// `[section.name]` headers.
fn toml_keys(text: &str, section: &str) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    let mut inside = false;
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with('[') {
            inside = t == format!("[{section}]");
            if let Some(rest) = t
                .strip_prefix(&format!("[{section}."))
                .and_then(|r| r.strip_suffix(']'))
            {
                keys.insert(rest.to_owned());
            }
            continue;
        }
        if inside {
            if let Some((k, _)) = t.split_once('=') {
                if !k.trim().starts_with('#') {
                    keys.insert(k.trim().to_owned());
                }
            }
        }
    }
    keys
}

fn features() -> BTreeSet<String> {
    toml_keys(&read("Cargo.toml"), "features")
}

fn profiles() -> BTreeSet<String> {
    let mut p = toml_keys(&read("Cargo.toml"), "profile");
    p.extend(["dev", "release", "test", "bench"].map(String::from));
    p
}

/// The `NATIVE_STATIC_LIBS` the Makefile writes down.
fn native_static_libs() -> BTreeSet<String> {
    read("Makefile")
        .lines()
        .find_map(|l| l.strip_prefix("NATIVE_STATIC_LIBS = "))
        .expect("NATIVE_STATIC_LIBS in the Makefile")
        .split_whitespace()
        .map(String::from)
        .collect()
}

fn built_example(name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    let profile_dir = common::profile_dir();
    BUILT.get_or_init(|| {
        common::cargo_build(
            &[
                "--example",
                "prepare_upload",
                "--example",
                "emulator",
                "--features",
                "emulator",
            ],
            profile_dir.parent().expect("target dir"),
        );
    });
    profile_dir.join("examples").join(name)
}

/// Runs `words` (the program, then its arguments) in `dir` with a home of
/// `dir` and no credentials or proxies from this environment.
fn run_in(dir: &TempDir, words: &[String], env: &[(String, String)]) -> common::Ran {
    let mut cmd = Command::new(&words[0]);
    cmd.args(&words[1..])
        .current_dir(dir.path())
        .env("HOME", dir.path());
    for (name, _) in std::env::vars_os() {
        let n = name.to_string_lossy().to_ascii_uppercase();
        if n.starts_with("ALIBABA_CLOUD_") || n.ends_with("_PROXY") || n == "ENS_ENDPOINT" {
            cmd.env_remove(&name);
        }
    }
    common::without_cargo_test_env(&mut cmd);
    for (k, v) in env {
        cmd.env(k, v);
    }
    common::run(cmd, dir.path(), "command", Duration::from_secs(300))
}

/// `$HOME` in a documented word, as the scratch home.
fn expand_home(word: &str, home: &Path) -> String {
    word.replace("${HOME}", &home.display().to_string())
        .replace("$HOME", &home.display().to_string())
}

/// Checks one documented command; `Err` says why it does not hold.
fn check(doc: &Doc, cmake_dirs: &mut Vec<String>) -> Result<(), String> {
    let w = &doc.words;
    let program = w[0].as_str();
    match program {
        "cargo" => check_cargo(doc),
        "make" => check_make(doc),
        "cmake" => check_cmake(doc, cmake_dirs),
        "cc" => check_link(doc),
        // A cross compiler (aarch64-linux-gnu-gcc): one .ci/cross uses.
        gcc if gcc.ends_with("-gcc") => {
            let prefix = gcc.trim_end_matches("-gcc");
            if !cross_script().contains(&format!("echo {prefix} ;;")) {
                return Err(format!(".ci/cross knows no gcc prefix {prefix}"));
            }
            check_link(doc)
        }
        ".ci/cross" => {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(root().join(".ci/cross"))
                .map_err(|e| e.to_string())?
                .permissions()
                .mode();
            if mode & 0o111 == 0 {
                return Err(".ci/cross is not executable".into());
            }
            match w.get(1).map(String::as_str) {
                None => Ok(()),
                Some(mode @ ("setup" | "sizes")) => cross_script()
                    .contains(&format!("\"${{1:-}}\" = {mode} ]"))
                    .then_some(())
                    .ok_or_else(|| format!(".ci/cross has no {mode} mode")),
                Some(other) => Err(format!(".ci/cross has no {other} mode")),
            }
        }
        "rustup" => {
            if w.get(1..3) != Some(&["target".to_owned(), "add".to_owned()][..]) {
                return Err("only `rustup target add` is known".into());
            }
            match w[3..]
                .iter()
                .find(|t| !cross_script().contains(&format!("    {t}) echo ")))
            {
                Some(t) => Err(format!(".ci/cross does not build {t}")),
                None => Ok(()),
            }
        }
        "dpkg" => {
            let line = doc.text();
            cross_script()
                .contains(&format!("chroot \"$dir\" {line}"))
                .then_some(())
                .ok_or_else(|| format!(".ci/cross does not run `{line}` in its chroot"))
        }
        "export" => match w.get(1).and_then(|a| assignment(a)) {
            Some((k, _)) if k == "PKG_CONFIG_PATH" => Ok(()),
            _ => Err("only `export PKG_CONFIG_PATH=...` is known".into()),
        },
        "git" => {
            // .ci/run runs it after regenerating the header.
            let line = doc.text();
            read(".ci/run")
                .contains(&line)
                .then_some(())
                .ok_or_else(|| format!("`{line}` is not in .ci/run"))
        }
        // The cross packages: ones the toolchain chroot of .ci/cross has.
        "apt-get" if doc.place.starts_with("docs/platforms.md") => {
            let script = cross_script();
            let listed = script
                .split("chroot_packages=\"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .ok_or(".ci/cross has no chroot_packages")?;
            let listed: BTreeSet<&str> = listed.split_whitespace().filter(|p| *p != "\\").collect();
            match w.iter().skip(2).filter(|a| !a.starts_with('-')).find(|p| {
                let bare = p.split(':').next().unwrap_or(p);
                !listed.contains(p.as_str()) && !listed.contains(bare)
            }) {
                Some(p) => Err(format!("{p} is not in .ci/cross's chroot_packages")),
                None => Ok(()),
            }
        }
        "apt-get" => {
            let documented: BTreeSet<&str> = w
                .iter()
                .skip(2)
                .filter(|a| !a.starts_with('-'))
                .map(String::as_str)
                .collect();
            let needed: BTreeSet<&str> = common::tools::ALL_PACKAGES.split(' ').collect();
            (documented == needed)
                .then_some(())
                .ok_or_else(|| format!("documents {documented:?}, the tests need {needed:?}"))
        }
        "mkdir" => Ok(()),
        ".ci/run" => {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(root().join(".ci/run"))
                .map_err(|e| e.to_string())?
                .permissions()
                .mode();
            (mode & 0o111 != 0)
                .then_some(())
                .ok_or_else(|| ".ci/run is not executable".into())
        }
        "examples/c/prepare_upload" | "examples/c/upload" => {
            // tests/c_api.rs runs both programs, built by this Makefile,
            // against the emulator with this environment.
            let makefile = read("examples/c/Makefile");
            let name = program.trim_start_matches("examples/c/");
            let known = [
                "ENS_ENDPOINT",
                "ALIBABA_CLOUD_ACCESS_KEY_ID",
                "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
                "ENS_UPLOAD_PART_SIZE",
            ];
            if let Some((k, _)) = doc.env.iter().find(|(k, _)| !known.contains(&k.as_str())) {
                return Err(format!("{k} is not read by the C examples"));
            }
            makefile
                .contains(&format!("$(BUILD_DIR)/{name}"))
                .then_some(())
                .ok_or_else(|| format!("examples/c/Makefile builds no {name}"))
        }
        other => Err(format!(
            "a command of a kind tests/docs_commands.rs does not check: {other}"
        )),
    }
}

fn cross_script() -> &'static str {
    static SCRIPT: OnceLock<String> = OnceLock::new();
    SCRIPT.get_or_init(|| read(".ci/cross"))
}

fn check_cargo(doc: &Doc) -> Result<(), String> {
    let w = &doc.words;
    let (ours, rest) = match w.iter().position(|a| a == "--") {
        Some(i) => (&w[..i], &w[i + 1..]),
        None => (&w[..], &[][..]),
    };
    let known = features();
    for list in flag_values(ours, "--features") {
        for f in list.split(',') {
            if !known.contains(f) {
                return Err(format!("no feature {f:?} in Cargo.toml"));
            }
        }
    }
    for p in flag_values(ours, "--profile") {
        if !profiles().contains(&p) {
            return Err(format!("no profile {p:?}"));
        }
    }
    for t in flag_values(ours, "--test") {
        if !root().join(format!("tests/{t}.rs")).is_file() {
            return Err(format!("no tests/{t}.rs"));
        }
    }
    for b in flag_values(ours, "--bench") {
        if !root().join(format!("benches/{b}.rs")).is_file() {
            return Err(format!("no benches/{b}.rs"));
        }
    }
    match w.get(1).map(String::as_str) {
        Some("run") => {
            let example = flag_values(ours, "--example");
            match example.first().map(String::as_str) {
                Some("prepare_upload") => run_cli(doc, rest),
                Some("emulator") => check_emulator_flags(rest),
                other => Err(format!("cargo run of {other:?}")),
            }
        }
        // The documented test run: one named test function must exist.
        Some("test") => {
            if let (Some(t), Some(name)) = (
                flag_values(ours, "--test").first(),
                ours.last().filter(|n| !n.starts_with('-')),
            ) {
                let file = read(&format!("tests/{t}.rs"));
                if name != t && !file.contains(&format!("fn {name}(")) {
                    return Err(format!("no test {name} in tests/{t}.rs"));
                }
            }
            Ok(())
        }
        Some("bench") | Some("build") => Ok(()),
        // The C libraries: the Makefile runs these very commands.
        Some("rustc") => {
            let printed = make_dry_run(&["build".into(), "PROFILE=release".into()], None)?;
            let line = doc.text().replace("--release", "--profile release");
            printed
                .lines()
                .any(|l| l.trim() == line)
                .then_some(())
                .ok_or_else(|| format!("`make build` does not run `{line}`:\n{printed}"))
        }
        Some("install") => (w.get(2).map(String::as_str) == Some("cargo-fuzz"))
            .then_some(())
            .ok_or_else(|| "only cargo-fuzz is installed".into()),
        Some("fuzz") => check_fuzz(ours),
        other => Err(format!("cargo {other:?}")),
    }
}

/// The CLI command, run as written (after `--`), in a scratch directory
/// with the files it names, against the bundled emulator.
fn run_cli(doc: &Doc, args: &[String]) -> Result<(), String> {
    let dir = TempDir::new("docs-cli");
    for file in flag_values(args, "--file") {
        std::fs::write(dir.join(&file), vec![7u8; 300_000]).map_err(|e| e.to_string())?;
    }
    let mut words = vec![built_example("prepare_upload").display().to_string()];
    words.extend(args.iter().cloned());
    let ran = run_in(&dir, &words, &doc.env);
    let line = ran.stdout.trim_end();
    let json: serde_json::Value =
        serde_json::from_str(line).map_err(|e| format!("{e}: {}", ran.describe()))?;
    (ran.status.success() && json["Emulator"] == serde_json::Value::Bool(true))
        .then_some(())
        .ok_or_else(|| ran.describe())
}

/// Every `--flag` the emulator's documented command shows is in its usage.
fn check_emulator_flags(args: &[String]) -> Result<(), String> {
    let out = Command::new(built_example("emulator"))
        .arg("--help")
        .output()
        .map_err(|e| e.to_string())?;
    let usage = String::from_utf8_lossy(&out.stderr).into_owned();
    for arg in args {
        let flag = arg.trim_start_matches('[');
        if let Some(flag) = flag.strip_prefix("--") {
            let flag = format!("--{}", flag.split([' ', ']', '=']).next().unwrap_or(""));
            if !usage.contains(&flag) {
                return Err(format!("the emulator knows no {flag}: {usage}"));
            }
        }
    }
    Ok(())
}

fn check_fuzz(words: &[String]) -> Result<(), String> {
    let targets = read("fuzz/Cargo.toml");
    match words.get(2).map(String::as_str) {
        Some("build") => Ok(()),
        Some("run") | Some("tmin") => {
            let target = words.get(3).ok_or("no fuzz target")?;
            if !target.starts_with('<') && !targets.contains(&format!("name = \"{target}\"")) {
                return Err(format!("no fuzz target {target}"));
            }
            for w in &words[4..] {
                let path = w.strip_prefix("-dict=").unwrap_or(w);
                let fixed = path.starts_with("fuzz/seeds/") || w.starts_with("-dict=");
                if fixed && !root().join(path).exists() {
                    return Err(format!("no {path}"));
                }
            }
            Ok(())
        }
        other => Err(format!("cargo fuzz {other:?}")),
    }
}

/// `make -n` with the documented arguments, `$HOME` a scratch directory.
fn make_dry_run(args: &[String], home: Option<&Path>) -> Result<String, String> {
    let mut cmd = Command::new("make");
    // `cargo` as a user has it, not the path cargo gives this test.
    cmd.args(["-n", "CARGO=cargo"]).current_dir(root());
    for a in args {
        cmd.arg(home.map_or_else(|| a.clone(), |h| expand_home(a, h)));
    }
    common::without_cargo_test_env(&mut cmd);
    let out = cmd.output().map_err(|e| format!("make: {e}"))?;
    let printed = String::from_utf8_lossy(&out.stdout).into_owned();
    out.status.success().then_some(printed).ok_or_else(|| {
        format!(
            "make -n {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn check_make(doc: &Doc) -> Result<(), String> {
    let home = TempDir::new("docs-make");
    make_dry_run(&doc.words[1..], Some(home.path())).map(|_| ())
}

/// `cmake -S ... -B DIR` is configured for real (into a scratch directory);
/// `cmake --build DIR` must build a directory configured before it (the
/// C API tests run the build).
fn check_cmake(doc: &Doc, configured: &mut Vec<String>) -> Result<(), String> {
    let w = &doc.words;
    if w.get(1).map(String::as_str) == Some("--build") {
        let dir = w.get(2).ok_or("cmake --build of what?")?;
        return configured
            .contains(dir)
            .then_some(())
            .ok_or_else(|| format!("{dir} was not configured first"));
    }
    let source = flag_values(w, "-S");
    let build = flag_values(w, "-B");
    let (Some(source), Some(build)) = (source.first(), build.first()) else {
        return Err("cmake without -S and -B".into());
    };
    let scratch = TempDir::new("docs-cmake");
    let mut cmd = Command::new("cmake");
    cmd.arg("-S")
        .arg(root().join(source))
        .arg("-B")
        .arg(scratch.path());
    common::without_cargo_test_env(&mut cmd);
    let ran = common::run(cmd, scratch.path(), "cmake", Duration::from_secs(120));
    configured.push(build.clone());
    ran.status
        .success()
        .then_some(())
        .ok_or_else(|| ran.describe())
}

/// A link line: its include directory exists, it lists exactly the
/// Makefile's system libraries, and its pkg-config calls ask for what the
/// installed `ens_upload.pc` has (tests/c_api.rs links with them).
fn check_link(doc: &Doc) -> Result<(), String> {
    let w = &doc.words;
    for include in w.iter().filter_map(|a| a.strip_prefix("-I")) {
        if !root().join(include).is_dir() {
            return Err(format!("no {include}/"));
        }
    }
    let libs: BTreeSet<String> = w.iter().filter(|a| a.starts_with("-l")).cloned().collect();
    if !libs.is_empty() && libs != native_static_libs() {
        return Err(format!(
            "links {libs:?}, the Makefile's NATIVE_STATIC_LIBS are {:?}",
            native_static_libs()
        ));
    }
    let known = [
        "--cflags",
        "--libs",
        "--static",
        "--variable=staticlib",
        "--variable=native_static_libs",
    ];
    let pc = read("ens_upload.pc.in");
    for call in w.iter().filter_map(|a| a.strip_prefix("$(pkg-config ")) {
        let words: Vec<&str> = call.trim_end_matches(')').split_whitespace().collect();
        if words.last() != Some(&"ens_upload") {
            return Err(format!("pkg-config of {words:?}"));
        }
        for opt in &words[..words.len() - 1] {
            let var_ok = opt
                .strip_prefix("--variable=")
                .is_none_or(|v| pc.contains(&format!("\n{v}=")));
            if !known.contains(opt) || !var_ok {
                return Err(format!("pkg-config {opt}"));
            }
        }
    }
    Ok(())
}

#[test]
fn every_documented_command_runs_or_names_what_exists() {
    let docs = documented_commands();
    assert!(docs.len() > 20, "only {} commands found", docs.len());
    let mut cmake_dirs = Vec::new();
    let mut failed = Vec::new();
    for doc in &docs {
        if let Err(why) = check(doc, &mut cmake_dirs) {
            failed.push(format!("{}: `{}`\n  {why}", doc.place, doc.text()));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

#[test]
fn the_command_reader_splits_what_the_docs_write() {
    assert_eq!(
        split_words("cc app.c $(pkg-config --cflags --libs ens_upload) -o x"),
        [
            "cc",
            "app.c",
            "$(pkg-config --cflags --libs ens_upload)",
            "-o",
            "x"
        ]
    );
    assert_eq!(strip_comment("make   # or: make PROFILE=x"), "make   ");
    assert_eq!(strip_comment("a $(b #c) d"), "a $(b #c) d");
    assert_eq!(
        assignment("PKG_CONFIG_PATH=/x"),
        Some(("PKG_CONFIG_PATH".into(), "/x".into()))
    );
    assert_eq!(assignment("-Wl,-rpath,x=y"), None);
}
