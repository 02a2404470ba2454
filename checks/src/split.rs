//! Cutting a document's top-level block lists (`checks:`) into their items' text, so that each item is parsed on
//! its own and dropped once prepared: a list of 100,000 checks then never exists as one YAML event stream or
//! value tree, which for such a list took far more memory than the checks themselves.
//!
//! Only the plain block layout is cut (a `key:` line at column 0, then `- ` items at one indentation, as people
//! write lists and as the collector writes what it pushes). A document that uses anchors or aliases (an item may
//! refer to another), tabs for indentation, several documents, or a flow list (`checks: [ … ]`) is left whole for
//! the YAML parser, which reads every form.

/// A document with its lists cut out.
#[derive(Debug)]
pub struct Cut<'a> {
    /// The document without the cut lists' keys and items.
    pub rest: String,
    /// Each cut list by its key, in the order asked for; a key the document does not have is absent.
    pub lists: Vec<(&'a str, Vec<Item>)>,
}

/// One item of a cut list.
#[derive(Debug)]
pub struct Item {
    /// The item as a one-element YAML sequence (`- id: …`), dedented.
    pub text: String,
    /// The document line (1-based) the item begins on.
    pub line: usize,
}

/// Cuts the top-level block lists named `keys` out of `text`; `None` when the document is not in the plain
/// layout this reads, so that the caller parses it whole.
pub fn cut_lists<'a>(text: &str, keys: &[&'a str]) -> Option<Cut<'a>> {
    if uses_references(text) || text.contains('\t') || text.lines().skip(1).any(|line| line.starts_with("---")) {
        return None;
    }
    let lines: Vec<&str> = text.lines().collect();
    let mut rest = String::with_capacity(text.len().min(64 * 1024));
    let mut lists = Vec::new();
    let mut index = 0;
    while index < lines.len() {
        let line = lines[index];
        let key = keys.iter().find(|key| is_block_key(line, key));
        let Some(key) = key else {
            rest.push_str(line);
            rest.push('\n');
            index += 1;
            continue;
        };
        let end = (index + 1..lines.len()).find(|&at| ends_list(lines[at])).unwrap_or(lines.len());
        lists.push((*key, items(&lines[index + 1..end], index + 2)?));
        index = end;
    }
    Some(Cut { rest, lists })
}

/// Whether `line` is `key:` with nothing after it but a comment (a block value follows).
fn is_block_key(line: &str, key: &str) -> bool {
    line.strip_prefix(key)
        .and_then(|after| after.strip_prefix(':'))
        .is_some_and(|value| value.trim().is_empty() || value.trim_start().starts_with('#'))
}

/// Whether `line` ends a top-level list: the next top-level key (text at column 0 that is no item or comment).
fn ends_list(line: &str) -> bool {
    !line.trim().is_empty() && !line.starts_with([' ', '#', '-'])
}

/// The items of a block list written on `lines`, the first of which is document line `first_line`.
fn items(lines: &[&str], first_line: usize) -> Option<Vec<Item>> {
    let content = |line: &str| !line.trim().is_empty() && !line.trim_start().starts_with('#');
    let Some(first) = lines.iter().find(|line| content(line)) else { return Some(Vec::new()) };
    let indent = first.len() - first.trim_start().len();
    let starts_item = |line: &str| {
        line.get(..indent).is_some_and(|lead| lead.trim().is_empty()) && line.get(indent..).is_some_and(is_dash)
    };
    let mut items: Vec<Item> = Vec::new();
    for (offset, line) in lines.iter().enumerate() {
        if starts_item(line) {
            items.push(Item { text: String::new(), line: first_line + offset });
        } else if content(line) && line.len() - line.trim_start().len() <= indent {
            return None; // something else at the items' indentation: not a plain list
        }
        if let Some(item) = items.last_mut() {
            item.text.push_str(line.get(indent..).unwrap_or_default());
            item.text.push('\n');
        }
    }
    Some(items)
}

fn is_dash(text: &str) -> bool {
    text == "-" || text.starts_with("- ")
}

/// Whether the document may use anchors or aliases (`&name`, `*name`, `<<:`): then items can refer to each
/// other and must be parsed together. Quoted text can trip this; that only costs the cut.
fn uses_references(text: &str) -> bool {
    text.contains("<<:")
        || text.split_whitespace().any(|word| {
            let mut chars = word.trim_start_matches(['[', '{', ',']).chars();
            matches!(chars.next(), Some('&' | '*'))
                && chars.next().is_some_and(|next| next.is_ascii_alphanumeric() || next == '_')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOCUMENT: &str = "region: eu\n# the checks\nchecks:\n  - id: a\n    kind: http\n\n  # second\n  - id: b\n    \
                            http:\n      body: |\n        - not an item\nmetrics_listen: 127.0.0.1:1\n\
                            control_checks:\n- id: c\n";

    #[test]
    fn block_lists_are_cut_into_items() {
        let cut = cut_lists(DOCUMENT, &["checks", "control_checks"]).expect("plain layout");
        assert_eq!(cut.rest, "region: eu\n# the checks\nmetrics_listen: 127.0.0.1:1\n");
        let (key, items) = &cut.lists[0];
        assert_eq!(*key, "checks");
        assert_eq!(items.len(), 2);
        assert_eq!((items[0].text.as_str(), items[0].line), ("- id: a\n  kind: http\n\n# second\n", 4));
        assert_eq!(items[1].line, 8);
        assert!(items[1].text.ends_with("    - not an item\n"), "{:?}", items[1].text);
        assert_eq!(cut.lists[1].0, "control_checks");
        assert_eq!(cut.lists[1].1[0].text, "- id: c\n");
    }

    #[test]
    fn windows_line_ends_and_wide_characters_are_read_not_tripped_on() {
        let cut = cut_lists("checks:\r\n  - id: a\r\n\r\n  - id: b\r\nregion: x\r\n", &["checks"]).expect("plain");
        assert_eq!(cut.lists[0].1.len(), 2);
        assert_eq!(cut.rest, "region: x\n");
        assert!(cut_lists("checks:\n  - id: a\n€x: 1\n", &["checks"]).is_some());
        assert!(cut_lists("checks:\n   - id: a\n €: 1\n", &["checks"]).is_none());
    }

    #[test]
    fn other_layouts_are_left_whole() {
        assert!(cut_lists("checks: [ { id: a } ]\n", &["checks"]).is_some_and(|cut| cut.lists.is_empty()));
        assert!(cut_lists("base: &base { interval: 30s }\nchecks:\n  - { <<: *base, id: a }\n", &["checks"]).is_none());
        assert!(cut_lists("checks:\n  - id: a\n  oops: 1\n", &["checks"]).is_none());
        assert!(cut_lists("a: 1\n---\nb: 2\n", &["checks"]).is_none());
        assert!(cut_lists("checks:\n\t- id: a\n", &["checks"]).is_none());
    }

    proptest::proptest! {
        /// Any text: cutting never panics; a document in the plain layout reads the same cut as whole.
        #[test]
        fn cutting_reads_what_the_whole_document_says(
            indent in 0usize..4,
            crlf in proptest::bool::ANY,
            items in proptest::collection::vec((0u32..1000, proptest::bool::ANY, proptest::bool::ANY), 0..6),
            noise in ".{0,40}",
        ) {
            let _ = cut_lists(&noise, &["checks"]);
            let pad = " ".repeat(indent);
            let mut text = String::from("checks:  # the list\n");
            for (number, commented, mapping_style) in items {
                if commented {
                    text.push_str(&format!("{pad}# check {number}\n\n"));
                }
                if mapping_style {
                    text.push_str(&format!("{pad}- id: c{number}\n{pad}  kind: tcp\n"));
                    text.push_str(&format!("{pad}  target: \"h:1\"\n{pad}  interval: 5s\n"));
                } else {
                    text.push_str(&format!("{pad}- {{ id: c{number}, kind: tcp, target: \"h:1\", interval: 5s }}\n"));
                }
            }
            if crlf {
                text = text.replace('\n', "\r\n");
            }
            let whole: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
            let from_whole = crate::parse_checks(whole["checks"].clone(), "checks");
            let from_cut = crate::parse_checks_document(&text);
            let ids = |checks: Result<Vec<crate::PreparedCheck>, Vec<String>>| {
                checks.map(|checks| checks.into_iter().map(|check| check.check).collect::<Vec<_>>())
            };
            proptest::prop_assert_eq!(ids(from_cut), ids(from_whole));
        }
    }
}
