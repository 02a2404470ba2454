//! Step templates: text with `${steps.NAME.CAPTURE}` references to values an earlier step of a multi-step HTTP
//! check captured, resolved when the attempt runs. Environment variables (`${VAR}`) are expanded when the file is
//! read and never reach here; a `steps.` reference is the one form that expansion leaves for the attempt.

use std::fmt;

/// The prefix that marks a step reference.
pub const STEP_REFERENCE: &str = "${steps.";

/// Text with step references, parsed against the captures of the steps before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    /// The value of capture `capture` of step `step` (indices into the check's steps and that step's captures).
    Capture {
        step: usize,
        capture: usize,
    },
}

/// The captures a step declares, by name, for resolving references.
pub struct Declared<'a> {
    /// Step name.
    pub step: &'a str,
    /// Its capture names, in order.
    pub captures: Vec<&'a str>,
}

impl Template {
    /// Parses `text`, resolving each `${steps.NAME.CAPTURE}` against `earlier` (the steps before this one).
    pub fn parse(text: &str, earlier: &[Declared<'_>]) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(at) = rest.find(STEP_REFERENCE) {
            if at > 0 {
                parts.push(Part::Text(rest[..at].to_owned()));
            }
            let body = &rest[at + STEP_REFERENCE.len()..];
            let end = body.find('}').ok_or_else(|| format!("`{STEP_REFERENCE}` without a closing `}}`"))?;
            let reference = &body[..end];
            let (step_name, capture_name) = reference
                .split_once('.')
                .ok_or_else(|| format!("`${{steps.{reference}}}` is not `${{steps.STEP.CAPTURE}}`"))?;
            let step = earlier.iter().position(|declared| declared.step == step_name).ok_or_else(|| {
                let names: Vec<&str> = earlier.iter().map(|declared| declared.step).collect();
                format!(
                    "`${{steps.{reference}}}` names no earlier step (earlier: {})",
                    if names.is_empty() { "none".to_owned() } else { names.join(", ") }
                )
            })?;
            let capture = earlier[step].captures.iter().position(|name| *name == capture_name).ok_or_else(|| {
                format!(
                    "`${{steps.{reference}}}`: step {step_name} captures no {capture_name} (it captures: {})",
                    if earlier[step].captures.is_empty() {
                        "nothing".to_owned()
                    } else {
                        earlier[step].captures.join(", ")
                    }
                )
            })?;
            parts.push(Part::Capture { step, capture });
            rest = &body[end + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_owned()));
        }
        Ok(Self { parts })
    }

    /// The text with every reference replaced by its value in `captured` (per step, per capture).
    pub fn render(&self, captured: &[Vec<String>]) -> String {
        self.parts
            .iter()
            .map(|part| match part {
                Part::Text(text) => text.as_str(),
                Part::Capture { step, capture } => {
                    captured.get(*step).and_then(|values| values.get(*capture)).map_or("", String::as_str)
                }
            })
            .collect()
    }

    /// The text as written, references replaced by `placeholder`: for checking at load time that what the
    /// template makes can be a URL or a header value.
    pub fn with_placeholder(&self, placeholder: &str) -> String {
        self.parts
            .iter()
            .map(|part| match part {
                Part::Text(text) => text.as_str(),
                Part::Capture { .. } => placeholder,
            })
            .collect()
    }

    /// The text, when the template has no reference.
    pub fn as_literal(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [] => Some(""),
            [Part::Text(text)] => Some(text),
            _ => None,
        }
    }

    /// The literal pieces of the template (the configured text between references).
    pub fn literals(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|part| match part {
            Part::Text(text) => Some(text.as_str()),
            Part::Capture { .. } => None,
        })
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.with_placeholder("…"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn login() -> Vec<Declared<'static>> {
        vec![Declared { step: "login", captures: vec!["token", "expires"] }]
    }

    #[test]
    fn references_resolve_to_earlier_captures() {
        let template = Template::parse("Bearer ${steps.login.token}; ${steps.login.expires}", &login()).unwrap();
        let captured = vec![vec!["abc".to_owned(), "3600".to_owned()]];
        assert_eq!(template.render(&captured), "Bearer abc; 3600");
        assert_eq!(template.with_placeholder("x"), "Bearer x; x");
        assert_eq!(template.literals().collect::<Vec<_>>(), ["Bearer ", "; "]);
    }

    #[test]
    fn unknown_steps_and_captures_are_named() {
        let error = Template::parse("${steps.logon.token}", &login()).unwrap_err();
        assert_eq!(error, "`${steps.logon.token}` names no earlier step (earlier: login)");
        let error = Template::parse("${steps.login.tokn}", &login()).unwrap_err();
        assert_eq!(error, "`${steps.login.tokn}`: step login captures no tokn (it captures: token, expires)");
        assert!(Template::parse("${steps.login", &login()).unwrap_err().contains("closing"));
        assert!(Template::parse("${steps.login}", &login()).unwrap_err().contains("STEP.CAPTURE"));
        assert_eq!(Template::parse("plain $x", &[]).unwrap().render(&[]), "plain $x");
    }
}
