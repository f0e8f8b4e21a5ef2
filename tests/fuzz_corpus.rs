//! Replays the fuzz targets' inputs on stable Rust, through the same harness
//! functions the cargo-fuzz targets call (`wsclient::internals::fuzz`, in
//! src/fuzzing.rs): every committed seed and regression input in
//! fuzz/seeds/<target>/ (a crash the fuzzer found is kept there as
//! `crash-*` once fixed), and whatever a local fuzz run left in
//! fuzz/artifacts/<target>/ (crashes not yet fixed fail here too). A
//! harness panics when an invariant breaks; each failing file is named.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use wsclient::internals::fuzz;

type Harness = fn(&[u8]);

const TARGETS: [(&str, Harness); 5] = [
    ("frame_reader", fuzz::frame_reader),
    ("upgrade_response", fuzz::upgrade_response),
    ("options", fuzz::options),
    ("url", fuzz::url),
    ("pem", fuzz::pem),
];

fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut v: Vec<PathBuf> = rd.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.is_file()).collect();
    v.sort();
    v
}

fn replay(target: &str, harness: Harness) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let seeds = files(&root.join("seeds").join(target));
    assert!(!seeds.is_empty(), "no seeds in fuzz/seeds/{target}");
    let mut all = seeds;
    all.extend(files(&root.join("artifacts").join(target)));
    let mut failed = Vec::new();
    let t0 = Instant::now();
    for f in &all {
        let data = std::fs::read(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        if let Err(p) = catch_unwind(AssertUnwindSafe(|| harness(&data))) {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failed.push(format!("{}: {msg}", f.display()));
        }
    }
    assert!(failed.is_empty(), "{target}: {} of {} inputs fail:\n{}", failed.len(), all.len(), failed.join("\n"));
    assert!(t0.elapsed() < Duration::from_secs(240), "{target}: replay took {:?}", t0.elapsed());
    all.len()
}

#[test]
fn frame_reader_corpus() {
    eprintln!("{} inputs", replay(TARGETS[0].0, TARGETS[0].1));
}

#[test]
fn upgrade_response_corpus() {
    eprintln!("{} inputs", replay(TARGETS[1].0, TARGETS[1].1));
}

#[test]
fn options_corpus() {
    eprintln!("{} inputs", replay(TARGETS[2].0, TARGETS[2].1));
}

#[test]
fn url_corpus() {
    eprintln!("{} inputs", replay(TARGETS[3].0, TARGETS[3].1));
}

#[test]
fn pem_corpus() {
    eprintln!("{} inputs", replay(TARGETS[4].0, TARGETS[4].1));
}

#[test]
fn every_target_has_an_entry_point_and_seeds() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    for (t, h) in TARGETS {
        assert!(root.join("fuzz_targets").join(format!("{t}.rs")).is_file(), "fuzz/fuzz_targets/{t}.rs");
        assert!(!files(&root.join("seeds").join(t)).is_empty(), "fuzz/seeds/{t}");
        // inputs too short to mean anything are fine for every harness
        h(b"");
        h(b"\x06");
    }
}
