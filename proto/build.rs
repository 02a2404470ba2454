//! Generates the `slaprobe.v1` messages and gRPC code from `slaprobe/v1/*.proto` with protox (pure Rust; no
//! `protoc` needed on the machine).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=slaprobe");
    let descriptors = protox::compile(["slaprobe/v1/collector.proto"], ["."])?;
    tonic_prost_build::configure().compile_fds(descriptors)?;
    Ok(())
}
