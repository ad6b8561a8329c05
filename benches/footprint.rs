//! `cargo bench` runs `benches/footprint.sh` too, so one command reports
//! every performance and footprint figure: sizes, crate count, peak RSS.

fn main() {
    // `cargo test --benches` runs benches without --bench: skip the builds.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/footprint.sh");
    let status = std::process::Command::new("bash")
        .arg(script)
        .status()
        .expect("run bash benches/footprint.sh");
    std::process::exit(status.code().unwrap_or(1));
}
