//! A `ResultBatch` as any bytes: decoding, then each result's conversion into the record the store keeps and the
//! redaction of its URL, as ingest does; every failure is an error value, never a panic.
#![no_main]

use prost::Message;
use slaprobe_proto::{ResultRecord, v1};

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    let Ok(batch) = v1::ResultBatch::decode(bytes) else { return };
    for result in batch.results {
        if let Ok(record) = ResultRecord::try_from(result) {
            if let Some(url) = record.http.as_ref().and_then(|http| http.final_url.as_deref()) {
                let _ = slaprobe_proto::redact::redacted_url(url);
            }
            let _ = v1::Result::from(&record).encode_to_vec();
        }
    }
});
