//! A spool segment file as any bytes (a torn write, a corrupt disk): opening the spool recovers what is intact
//! and reading it back hands out only whole records, never a panic.
#![no_main]

use std::sync::LazyLock;

static DIR: LazyLock<tempfile::TempDir> = LazyLock::new(|| tempfile::tempdir().expect("a temporary directory"));

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    let dir = DIR.path().join("spool");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("the spool directory");
    std::fs::write(dir.join("segment-00000000000000000001.log"), bytes).expect("write the segment");
    if let Ok(mut spool) = slaprobe_agent::spool::Spool::open(&dir, 1 << 20) {
        let _ = spool.read_after(0, 1_000, usize::MAX);
    }
});
