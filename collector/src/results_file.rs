//! Reading results as JSON lines (`docs/results.md`), reporting every malformed line with its number.

use std::io::BufRead;

use slaprobe_proto::ResultRecord;

/// What was read from a results file.
#[derive(Debug, Default)]
pub struct ResultsFile {
    /// Records parsed.
    pub records: Vec<ResultRecord>,
    /// `line N: what is wrong`, for every line that did not parse.
    pub bad_lines: Vec<String>,
}

/// Reads JSON lines from `reader`; blank lines are skipped, malformed ones listed in `bad_lines`.
pub fn read_results(reader: impl BufRead) -> std::io::Result<ResultsFile> {
    let mut file = ResultsFile::default();
    for (index, line) in reader.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<ResultRecord>(&line) {
            Ok(record) => file.records.push(record),
            Err(error) => file.bad_lines.push(format!("line {}: {error}", index + 1)),
        }
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_lines_are_reported_with_numbers() {
        let text = "{\"check_id\":\"a\",\"region\":\"r\",\"started_at\":\"2026-02-01T00:00:00Z\",\"ok\":true}\n\nnot json\n{\"check_id\":\"a\"}\n";
        let file = read_results(text.as_bytes()).unwrap();
        assert_eq!(file.records.len(), 1);
        assert_eq!(file.bad_lines.len(), 2);
        assert!(file.bad_lines[0].starts_with("line 3: "), "{:?}", file.bad_lines);
        assert!(file.bad_lines[1].starts_with("line 4: missing field `region`"), "{:?}", file.bad_lines);
    }
}
