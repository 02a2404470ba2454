//! The `slaprobe-verify` binary's own contract: what it answers for a bundle it cannot read at all (exit 2,
//! naming it) and for an empty directory (exit 1, naming the missing manifest). Bundles written by the collector
//! are verified, and tampered with, in the workspace's end-to-end tests.

use std::process::Command;

fn verify(path: &std::path::Path) -> (Option<i32>, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_slaprobe-verify")).arg(path).output().expect("run slaprobe-verify");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn a_bundle_that_is_not_there_or_empty_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, stderr) = verify(&dir.path().join("nothing.tar"));
    assert_eq!(code, Some(2));
    assert!(stderr.contains("cannot read the bundle") && stderr.contains("nothing.tar"), "{stderr}");

    let (code, stdout, _) = verify(dir.path());
    assert_eq!(code, Some(1));
    assert!(stdout.contains("NOT VERIFIED"), "{stdout}");
    assert!(stdout.contains("manifest.json: missing"), "{stdout}");
}

#[test]
fn a_tar_that_climbs_out_of_the_bundle_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("evil.tar");
    let mut header = tar::Header::new_gnu();
    header.set_size(1);
    header.set_mode(0o644);
    // `set_path` refuses `..`; write the name bytes as a hostile archiver would.
    header.as_old_mut().name[..13].copy_from_slice(b"../escape.txt");
    header.set_cksum();
    let mut builder = tar::Builder::new(std::fs::File::create(&path).unwrap());
    builder.append(&header, &b"x"[..]).unwrap();
    builder.finish().unwrap();
    let (code, _, stderr) = verify(&path);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("not a relative path inside the bundle"), "{stderr}");
}
