//! `collector.yaml` as any text, read from a file the way `serve` reads it: problems, never a panic.
#![no_main]

use std::sync::LazyLock;

static DIR: LazyLock<tempfile::TempDir> = LazyLock::new(|| tempfile::tempdir().expect("a temporary directory"));

libfuzzer_sys::fuzz_target!(|text: &[u8]| {
    let path = DIR.path().join("collector.yaml");
    std::fs::write(&path, text).expect("write the configuration");
    let _ = slaprobe_collector::config::load_collector_config(&path);
});
