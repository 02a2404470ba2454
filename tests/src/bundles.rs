//! Evidence bundles in tests: the two verifiers (`slaprobe-verify`, and the independent Python check of
//! `docs/evidence.md` in `tests/python/verify_bundle.py`), and a tamperer that edits a file of a copy and reseals
//! its manifest as someone covering their tracks would.

use std::path::Path;
use std::process::Command;

use slaprobe_proto::bundle::{MANIFEST, Manifest};

use crate::agent::verify_binary;

/// `slaprobe-verify BUNDLE`: its exit status and what it printed.
pub fn verify(bundle: &Path) -> (Option<i32>, String) {
    let output = Command::new(verify_binary()).arg(bundle).output().expect("run slaprobe-verify");
    (output.status.code(), String::from_utf8_lossy(&output.stdout).into_owned())
}

/// `tests/python/verify_bundle.py` on `bundle`: what it exits with and prints.
pub fn python_verify(bundle: &Path) -> (Option<i32>, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/verify_bundle.py");
    let output = Command::new("python3").arg(script).arg(bundle).output().expect("run python3");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("ModuleNotFoundError"),
        "the Python check needs rfc8785 and cryptography: `python3 -m pip install rfc8785==0.1.4 cryptography` \
         (.ci/run does): {stderr}"
    );
    (output.status.code(), format!("{}{stderr}", String::from_utf8_lossy(&output.stdout)))
}

/// Copies the directory `from` to `to`, recursively.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create the copy");
    for entry in std::fs::read_dir(from).expect("read the bundle") {
        let entry = entry.expect("a directory entry");
        if entry.file_type().expect("a file type").is_dir() {
            copy_dir(&entry.path(), &to.join(entry.file_name()));
        } else {
            std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy a file");
        }
    }
}

/// Rewrites the manifest's hashes to match the files.
pub fn reseal(bundle: &Path) {
    let path = bundle.join(MANIFEST);
    let mut manifest: Manifest =
        serde_json::from_slice(&std::fs::read(&path).expect("read the manifest")).expect("a manifest");
    for (name, hash) in manifest.files.iter_mut() {
        let bytes = std::fs::read(bundle.join(name)).expect("read a listed file");
        *hash = hex::encode(ring::digest::digest(&ring::digest::SHA256, &bytes));
    }
    std::fs::write(&path, serde_json::to_vec_pretty(&manifest).expect("JSON")).expect("write the manifest");
}

/// A copy of `bundle` named `name` beside it, with `tamper` applied to its `file`'s lines and the manifest
/// resealed; the copy's path.
pub fn tampered_copy(
    bundle: &Path,
    name: &str,
    file: &str,
    tamper: impl FnOnce(&mut Vec<String>),
) -> std::path::PathBuf {
    let copy = bundle.with_file_name(name);
    copy_dir(bundle, &copy);
    let path = copy.join(file);
    let text = std::fs::read_to_string(&path).expect("read the file to tamper with");
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    tamper(&mut lines);
    std::fs::write(&path, lines.join("\n") + "\n").expect("write the tampered file");
    reseal(&copy);
    copy
}
