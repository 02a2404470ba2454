//! `${VAR}` expansion from the environment, applied to every string value of a parsed YAML document.
//!
//! Expansion happens on values, not on the raw text, so a secret containing YAML syntax cannot change the
//! document's structure, and an unset variable is reported with the path of the value that named it. `$${` is
//! a literal `${`; a `$` not followed by `{` is left alone (regexes use it). `${steps.NAME.CAPTURE}` is left as
//! written: it is a multi-step check's reference to a value captured while the attempt runs
//! ([`crate::template`]).

use serde_yaml_ng::Value;

/// Where `${VAR}` values come from: the process environment, or a test's table.
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Expands `${VAR}` in every string of `value`, using `lookup` for variables.
///
/// Returns one message per problem, each prefixed with the value's path (`checks[0].http.headers.Authorization`).
pub fn expand_document(value: &mut Value, lookup: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
    expand_value(value, "", lookup)
}

/// Like [`expand_document`], for a value found at `path` (`checks[3]`), which prefixes every problem.
pub fn expand_value(value: &mut Value, path: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
    let mut errors = Vec::new();
    expand_at(value, path, lookup, &mut errors);
    errors
}

fn expand_at(value: &mut Value, path: &str, lookup: &dyn Fn(&str) -> Option<String>, errors: &mut Vec<String>) {
    match value {
        Value::String(text) => match expand_str(text, lookup) {
            Ok(expanded) => *text = expanded,
            Err(problem) => errors.push(format!("{}: {problem}", display_path(path))),
        },
        Value::Sequence(items) => {
            for (index, item) in items.iter_mut().enumerate() {
                expand_at(item, &format!("{path}[{index}]"), lookup, errors);
            }
        }
        Value::Mapping(map) => {
            for (key, item) in map.iter_mut() {
                let key = match key {
                    Value::String(name) => name.clone(),
                    other => format!("{other:?}"),
                };
                let child = if path.is_empty() { key } else { format!("{path}.{key}") };
                expand_at(item, &child, lookup, errors);
            }
        }
        Value::Tagged(tagged) => expand_at(&mut tagged.value, path, lookup, errors),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

fn display_path(path: &str) -> &str {
    if path.is_empty() { "(document)" } else { path }
}

/// Expands one string; the error names the first variable that is unset or malformed.
pub fn expand_str(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(escaped) = after.strip_prefix("${") {
            out.push_str("${");
            rest = escaped;
        } else if let Some(body) = after.strip_prefix('{') {
            let end = body.find('}').ok_or_else(|| format!("`${{` without a closing `}}` in {text:?}"))?;
            let name = &body[..end];
            if name.starts_with("steps.") {
                out.push_str("${");
                out.push_str(name);
                out.push('}');
                rest = &body[end + 1..];
                continue;
            }
            let valid = !name.is_empty()
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !name.starts_with(|c: char| c.is_ascii_digit());
            if !valid {
                return Err(format!("`${{{name}}}` is not a valid environment variable name"));
            }
            let expanded = lookup(name).ok_or_else(|| format!("environment variable {name} is not set"))?;
            out.push_str(&expanded);
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == "TOKEN").then(|| "s3cr:et".to_owned())
    }

    #[test]
    fn expands_escapes_and_leaves_regex_dollars() {
        assert_eq!(expand_str("Bearer ${TOKEN}", &env).unwrap(), "Bearer s3cr:et");
        assert_eq!(expand_str("$${TOKEN} ^220$", &env).unwrap(), "${TOKEN} ^220$");
    }

    #[test]
    fn step_references_are_left_for_the_attempt() {
        assert_eq!(
            expand_str("Bearer ${steps.login.token} ${TOKEN}", &env).unwrap(),
            "Bearer ${steps.login.token} s3cr:et"
        );
    }

    #[test]
    fn unset_and_malformed_variables_are_errors() {
        assert_eq!(expand_str("${NOPE}", &env).unwrap_err(), "environment variable NOPE is not set");
        assert!(expand_str("${TOKEN", &env).unwrap_err().contains("closing"));
        assert!(expand_str("${1X}", &env).unwrap_err().contains("not a valid"));
    }

    #[test]
    fn document_errors_carry_paths() {
        let mut doc: Value =
            serde_yaml_ng::from_str("checks:\n  - http: { headers: { Authorization: \"${MISSING}\" } }\n").unwrap();
        let errors = expand_document(&mut doc, &env);
        assert_eq!(errors, ["checks[0].http.headers.Authorization: environment variable MISSING is not set"]);
    }
}
