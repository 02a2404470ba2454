//! `agent.yaml` as any text: parsing and validation report problems, never panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|text: &str| {
    let lookup = |name: &str| (name == "TOKEN").then(|| "t0ken".to_owned());
    let _ = slaprobe_agent::config::parse_agent_config(text, "agent.yaml", &lookup);
});
