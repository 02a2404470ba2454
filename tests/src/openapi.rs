//! Checking real API answers against the collector's OpenAPI document with a JSON Schema validator (draft
//! 2020-12, formats checked). The document's schemas forbid undocumented fields, so a drift either way fails.

/// A validator for the JSON body of `method path` answering `status`, from the OpenAPI document `doc`
/// (following a `$ref` to a shared response).
pub fn response_validator(doc: &serde_json::Value, path: &str, method: &str, status: u16) -> jsonschema::Validator {
    let escaped = path.replace('~', "~0").replace('/', "~1");
    let mut pointer = format!("/paths/{escaped}/{method}/responses/{status}");
    let response = doc.pointer(&pointer).unwrap_or_else(|| panic!("the OpenAPI document has no {pointer}"));
    if let Some(shared) = response["$ref"].as_str() {
        pointer = shared.trim_start_matches('#').to_owned();
    }
    let mut root = doc.clone();
    root["$schema"] = "https://json-schema.org/draft/2020-12/schema".into();
    // A URI fragment: the braces of path templates are percent-encoded.
    let fragment = pointer.replace('{', "%7B").replace('}', "%7D");
    root["$ref"] = format!("#{fragment}/content/application~1json/schema").into();
    jsonschema::options().should_validate_formats(true).build(&root).expect("a valid schema")
}

/// What is wrong with `value` as the body of `method path` answering `status`; empty when it conforms.
pub fn violations(
    doc: &serde_json::Value,
    path: &str,
    method: &str,
    status: u16,
    value: &serde_json::Value,
) -> Vec<String> {
    let validator = response_validator(doc, path, method, status);
    validator.iter_errors(value).map(|error| format!("{error} at {}", error.instance_path())).collect()
}
