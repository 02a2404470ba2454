//! Network namespaces a test makes for itself (`ip netns add`), with loopback up and their own sysctls, removed
//! on drop: traffic inside one never leaves it.

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// A network namespace of this test process.
pub struct NetNamespace {
    /// Its name, for `ip netns exec`.
    pub name: String,
}

impl NetNamespace {
    /// A new namespace with `lo` up.
    pub fn new() -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!("slaprobe-test-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        run(&["ip", "netns", "add", &name]);
        let namespace = Self { name };
        namespace.exec(&["ip", "link", "set", "lo", "up"]);
        namespace
    }

    /// Sets `key` (`net.ipv4.icmp_echo_ignore_all`) to `value` inside the namespace.
    pub fn sysctl(&self, key: &str, value: &str) {
        self.exec(&["sysctl", "-q", "-w", &format!("{key}={value}")]);
    }

    /// Runs `command` inside the namespace, failing the test if it fails.
    pub fn exec(&self, command: &[&str]) {
        let mut full = vec!["ip", "netns", "exec", &self.name];
        full.extend_from_slice(command);
        run(&full);
    }

    /// The command prefix that runs a program inside the namespace.
    pub fn prefix(&self) -> [&str; 4] {
        ["ip", "netns", "exec", &self.name]
    }
}

impl Default for NetNamespace {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for NetNamespace {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "delete", &self.name]).status();
    }
}

fn run(command: &[&str]) {
    let output = Command::new(command[0]).args(&command[1..]).output().expect("run ip");
    assert!(output.status.success(), "{command:?} failed: {}", String::from_utf8_lossy(&output.stderr));
}
