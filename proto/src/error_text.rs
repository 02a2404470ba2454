//! An error as one line with its causes (`error sending request: connection refused`), so the reason a person can
//! act on is not hidden behind a wrapper's message. Causes whose text the line already holds are left out.

/// `error` followed by each of its sources' texts that is not already in the line.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
