//! A contracts document as any text: YAML errors or contract problems with their paths, never a panic. Valid
//! contracts are also evaluated over an empty period, which exercises the period and maintenance arithmetic.
#![no_main]

libfuzzer_sys::fuzz_target!(|text: &str| {
    let Ok(value) = serde_yaml_ng::from_str::<serde_yaml_ng::Value>(text) else { return };
    let Ok(contracts) = slaprobe_sla::contract::parse_contracts(value, "contracts") else { return };
    for contract in &contracts {
        for label in ["2026-02", "2024-03", "2026-Q1"] {
            if let Ok(period) = slaprobe_sla::parse_period(label, contract.terms.period, &contract.tz) {
                let horizon = slaprobe_sla::Horizon { monitored_from: Some(period.start), now: period.end };
                let _ = slaprobe_sla::evaluate(contract, &period, &[], &horizon);
            }
        }
    }
});
