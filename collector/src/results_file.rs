//! Reading results as JSON lines (`docs/results.md`) one line at a time, so a file of any length is read in
//! bounded memory; malformed lines are counted, and the first of them kept with their line numbers. A line longer
//! than any result can be ([`MAX_LINE_BYTES`]) is malformed and skipped without being held. A record is taken as
//! ingest takes one: its failure captures within their bounds (else the line is malformed) and its URL redacted,
//! so neither `import` nor an offline report can carry a credential that a file held.

use std::io::{BufRead, Read};

use slaprobe_proto::ResultRecord;
use slaprobe_proto::capture::check_bounds;
use slaprobe_proto::limits::MAX_MESSAGE_BYTES;
use slaprobe_proto::redact::redact_record;

/// The longest line read as a result: a whole gRPC message, which no single result comes near.
pub const MAX_LINE_BYTES: usize = MAX_MESSAGE_BYTES;

/// Malformed lines kept with their message; the rest are only counted.
const KEPT_BAD_LINES: usize = 20;

/// What a pass over a results file found wrong.
#[derive(Debug, Default)]
pub struct BadLines {
    /// How many lines did not parse.
    pub count: usize,
    /// `line N: what is wrong`, for the first [`KEPT_BAD_LINES`] of them.
    pub first: Vec<String>,
}

/// Reads JSON lines from `reader`, handing each record to `each` as it is parsed; blank lines are skipped,
/// malformed ones counted in the returned [`BadLines`].
pub fn for_each_result(reader: impl BufRead, each: impl FnMut(ResultRecord)) -> std::io::Result<BadLines> {
    for_each_line(reader, each, |_, _| {})
}

/// Like [`for_each_result`], also handing each malformed line's number and problem to `bad` as it is met.
pub fn for_each_line(
    mut reader: impl BufRead,
    mut each: impl FnMut(ResultRecord),
    mut bad_line: impl FnMut(usize, &str),
) -> std::io::Result<BadLines> {
    let mut bad = BadLines::default();
    let mut line = Vec::new();
    for number in 1.. {
        line.clear();
        let read = (&mut reader).take(MAX_LINE_BYTES as u64 + 1).read_until(b'\n', &mut line)?;
        if read == 0 {
            break;
        }
        let problem = if line.len() > MAX_LINE_BYTES && line.last() != Some(&b'\n') {
            skip_line(&mut reader)?;
            format!("longer than {MAX_LINE_BYTES} bytes")
        } else if line.trim_ascii().is_empty() {
            continue;
        } else {
            match serde_json::from_slice::<ResultRecord>(&line) {
                Ok(mut record) => match check_bounds(&record) {
                    Ok(()) => {
                        redact_record(&mut record);
                        each(record);
                        continue;
                    }
                    Err(problem) => problem,
                },
                Err(error) => error.to_string(),
            }
        };
        bad.count += 1;
        bad_line(number, &problem);
        if bad.first.len() < KEPT_BAD_LINES {
            bad.first.push(format!("line {number}: {problem}"));
        }
    }
    Ok(bad)
}

/// Reads past the rest of the current line without keeping it.
fn skip_line(reader: &mut impl BufRead) -> std::io::Result<()> {
    loop {
        let buffer = reader.fill_buf()?;
        if buffer.is_empty() {
            return Ok(());
        }
        match buffer.iter().position(|byte| *byte == b'\n') {
            Some(end) => {
                reader.consume(end + 1);
                return Ok(());
            }
            None => {
                let length = buffer.len();
                reader.consume(length);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_lines_are_reported_with_numbers() {
        let text = "{\"check_id\":\"a\",\"region\":\"r\",\"started_at\":\"2026-02-01T00:00:00Z\",\"ok\":true}\n\nnot json\n{\"check_id\":\"a\"}\n";
        let mut records = Vec::new();
        let bad = for_each_result(text.as_bytes(), |record| records.push(record)).unwrap();
        assert_eq!(records.len(), 1);
        assert_eq!(bad.count, 2);
        assert!(bad.first[0].starts_with("line 3: "), "{:?}", bad.first);
        assert!(bad.first[1].starts_with("line 4: missing field `region`"), "{:?}", bad.first);
    }

    #[test]
    fn an_overlong_line_is_malformed_and_the_next_one_still_read() {
        let valid = "{\"check_id\":\"a\",\"region\":\"r\",\"started_at\":\"2026-02-01T00:00:00Z\",\"ok\":true}\n";
        let text = format!("{valid}{}\n{valid}", "x".repeat(MAX_LINE_BYTES + 10));
        let mut records = 0;
        let bad = for_each_result(std::io::BufReader::with_capacity(4096, text.as_bytes()), |_| records += 1).unwrap();
        assert_eq!((records, bad.count), (2, 1));
        assert_eq!(bad.first, [format!("line 2: longer than {MAX_LINE_BYTES} bytes")]);
    }

    #[test]
    fn a_record_is_taken_as_ingest_takes_it_bounded_and_redacted() {
        let line = |http: serde_json::Value| {
            serde_json::json!({ "check_id": "a", "region": "r", "started_at": "2026-02-01T00:00:00Z", "ok": false,
                                "http": http })
            .to_string()
        };
        let credential = line(serde_json::json!({ "final_url": "https://u:pw-secret@api.example/x?key=k-secret" }));
        let oversized = line(serde_json::json!({ "headers": vec!["x: y"; 500] }));
        let mut records = Vec::new();
        let bad =
            for_each_result(format!("{credential}\n{oversized}\n").as_bytes(), |record| records.push(record)).unwrap();
        let url = records[0].http.as_ref().and_then(|http| http.final_url.as_deref());
        assert_eq!(url, Some("https://api.example/x?key=…"));
        assert_eq!(bad.first, ["line 2: http.headers holds 500 entries, more than 65"]);
    }

    #[test]
    fn only_the_first_bad_lines_are_kept() {
        let text = "x\n".repeat(1_000);
        let bad = for_each_result(text.as_bytes(), |_| panic!("nothing parses")).unwrap();
        assert_eq!((bad.count, bad.first.len()), (1_000, KEPT_BAD_LINES));
        assert!(bad.first[KEPT_BAD_LINES - 1].starts_with("line 20: "), "{:?}", bad.first);
    }
}
