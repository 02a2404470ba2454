//! Reading results as JSON lines (`docs/results.md`) one line at a time, so a file of any length is read in
//! bounded memory; malformed lines are counted, and the first of them kept with their line numbers.

use std::io::BufRead;

use slaprobe_proto::ResultRecord;

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
pub fn for_each_result(reader: impl BufRead, mut each: impl FnMut(ResultRecord)) -> std::io::Result<BadLines> {
    let mut bad = BadLines::default();
    for (index, line) in reader.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<ResultRecord>(&line) {
            Ok(record) => each(record),
            Err(error) => {
                bad.count += 1;
                if bad.first.len() < KEPT_BAD_LINES {
                    bad.first.push(format!("line {}: {error}", index + 1));
                }
            }
        }
    }
    Ok(bad)
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
    fn only_the_first_bad_lines_are_kept() {
        let text = "x\n".repeat(1_000);
        let bad = for_each_result(text.as_bytes(), |_| panic!("nothing parses")).unwrap();
        assert_eq!((bad.count, bad.first.len()), (1_000, KEPT_BAD_LINES));
        assert!(bad.first[KEPT_BAD_LINES - 1].starts_with("line 20: "), "{:?}", bad.first);
    }
}
