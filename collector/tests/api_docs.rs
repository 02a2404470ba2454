//! `docs/api.md` is made from the collector's OpenAPI document (`collector/src/http/openapi.json`, served at
//! `/api/v1/openapi.json`), so the page a user reads cannot drift from the API the collector serves: this test
//! renders the page and fails when the committed one differs. After changing the API, regenerate the page with
//! `SLAPROBE_UPDATE_DOCS=1 cargo test --workspace --test api_docs`.

use std::fmt::Write as _;
use std::path::Path;

use serde_json::{Map, Value};

const HEADER: &str = "<!-- Made from collector/src/http/openapi.json by collector/tests/api_docs.rs; do not edit. -->";

/// The page for `spec`.
fn render(spec: &Value) -> String {
    let mut page = String::new();
    let info = &spec["info"];
    let _ = writeln!(page, "{HEADER}\n\n# {} (version {})\n", text(&info["title"]), text(&info["version"]));
    let _ = writeln!(page, "{}\n", text(&info["description"]));
    page.push_str(
        "The collector serves this API on `listen.http`; `/api/v1/openapi.json` is the same document as JSON, for \
         tools. Fields of a response that the schema does not list are never sent.\n\n",
    );
    page.push_str("## Endpoints\n\n| method | path | what | who |\n| --- | --- | --- | --- |\n");
    for (path, method, operation) in operations(spec) {
        let _ = writeln!(
            page,
            "| {method} | [`{path}`](#{}) | {} | {} |",
            anchor(&format!("{method} {path}")),
            cell(text(&operation["summary"])),
            who(spec, &method, operation)
        );
    }
    for (path, method, operation) in operations(spec) {
        let _ = writeln!(page, "\n### {method} {path}\n\n{}\n", text(&operation["summary"]));
        parameters(&mut page, spec, operation);
        responses(&mut page, spec, operation);
    }
    page.push_str("\n## Schemas\n");
    for (name, schema) in spec["components"]["schemas"].as_object().into_iter().flatten() {
        schema_section(&mut page, name, schema);
    }
    page
}

/// Every operation in document order: path, upper-case method, operation.
fn operations(spec: &Value) -> Vec<(&str, String, &Value)> {
    let mut found = Vec::new();
    for (path, item) in spec["paths"].as_object().into_iter().flatten() {
        for (method, operation) in item.as_object().into_iter().flatten() {
            found.push((path.as_str(), method.to_uppercase(), operation));
        }
    }
    found
}

/// Who may call an operation: anyone (no security), or a token holder, an admin for changes.
fn who(spec: &Value, method: &str, operation: &Value) -> &'static str {
    let security = operation.get("security").unwrap_or(&spec["security"]);
    match (security.as_array().is_some_and(Vec::is_empty), method) {
        (true, _) => "anyone",
        (false, "GET") => "viewer",
        (false, _) => "admin",
    }
}

fn parameters(page: &mut String, spec: &Value, operation: &Value) {
    let Some(list) = operation["parameters"].as_array() else { return };
    page.push_str("| parameter | in | required | type | meaning |\n| --- | --- | --- | --- | --- |\n");
    for parameter in list {
        let parameter = resolve(spec, parameter);
        let _ = writeln!(
            page,
            "| `{}` | {} | {} | {} | {} |",
            text(&parameter["name"]),
            text(&parameter["in"]),
            if parameter["required"].as_bool() == Some(true) { "yes" } else { "no" },
            type_of(&parameter["schema"]),
            cell(text(&parameter["description"]))
        );
    }
    page.push('\n');
}

fn responses(page: &mut String, spec: &Value, operation: &Value) {
    page.push_str("| status | meaning | body |\n| --- | --- | --- |\n");
    for (status, response) in operation["responses"].as_object().into_iter().flatten() {
        let response = resolve(spec, response);
        let bodies: Vec<String> = response["content"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(media, content)| format!("`{media}`: {}", type_of(&content["schema"])))
            .collect();
        let _ = writeln!(page, "| {status} | {} | {} |", cell(text(&response["description"])), bodies.join("<br>"));
    }
}

fn schema_section(page: &mut String, name: &str, schema: &Value) {
    let _ = writeln!(page, "\n### {name}\n");
    if let Some(description) = schema["description"].as_str() {
        let _ = writeln!(page, "{description}\n");
    }
    let mut fields = Map::new();
    let mut parts = Vec::new();
    for part in schema["allOf"].as_array().into_iter().flatten() {
        match part.get("$ref") {
            Some(reference) => {
                parts.push(type_of(&Value::Object(Map::from_iter([("$ref".into(), reference.clone())]))))
            }
            None => fields.extend(part["properties"].as_object().cloned().unwrap_or_default()),
        }
    }
    fields.extend(schema["properties"].as_object().cloned().unwrap_or_default());
    if !parts.is_empty() {
        let _ = writeln!(page, "Every field of {}, and:\n", parts.join(", "));
    }
    if fields.is_empty() {
        let _ = writeln!(page, "{}", type_of(schema));
        return;
    }
    let required: Vec<&str> = schema["required"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    let described = fields.values().any(|property| property.get("description").is_some());
    page.push_str(if described {
        "| field | type | always there | meaning |\n| --- | --- | --- | --- |\n"
    } else {
        "| field | type | always there |\n| --- | --- | --- |\n"
    });
    for (field, property) in &fields {
        let always = if required.contains(&field.as_str()) { "yes" } else { "no" };
        let _ = write!(page, "| `{field}` | {} | {always} |", type_of(property));
        let _ = writeln!(
            page,
            "{}",
            if described { format!(" {} |", cell(text(&property["description"]))) } else { String::new() }
        );
    }
}

/// A schema's type in words: `string (date-time)`, `array of [Incident](#incident)`, `integer or null`.
fn type_of(schema: &Value) -> String {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.rsplit('/').next().unwrap_or(reference);
        return format!("[{name}](#{})", anchor(name));
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(choices) = schema[key].as_array() {
            return choices.iter().map(type_of).collect::<Vec<_>>().join(" or ");
        }
    }
    if let Some(values) = schema["enum"].as_array() {
        return values.iter().map(|value| format!("`{value}`")).collect::<Vec<_>>().join(" \\| ");
    }
    let names: Vec<&str> = match &schema["type"] {
        Value::String(name) => vec![name.as_str()],
        Value::Array(names) => names.iter().filter_map(Value::as_str).collect(),
        _ => return "any".to_owned(),
    };
    names
        .iter()
        .map(|name| match (*name, schema["format"].as_str()) {
            ("array", _) => format!("array of {}", type_of(&schema["items"])),
            (name, Some(format)) => format!("{name} ({format})"),
            (name, None) => name.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(" or ")
}

/// `value`, or what its `$ref` points at within `spec`.
fn resolve<'a>(spec: &'a Value, value: &'a Value) -> &'a Value {
    match value["$ref"].as_str().and_then(|reference| reference.strip_prefix('#')) {
        Some(pointer) => spec.pointer(pointer).unwrap_or(value),
        None => value,
    }
}

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or_default()
}

/// `text` made safe inside a table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// The anchor GitHub gives a heading.
fn anchor(heading: &str) -> String {
    heading
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            'a'..='z' | '0'..='9' | '-' | '_' => Some(c),
            ' ' => Some('-'),
            _ => None,
        })
        .collect()
}

#[test]
fn the_api_page_is_made_from_the_served_openapi_document() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let spec: Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("collector/src/http/openapi.json")).unwrap())
            .expect("openapi.json is JSON");
    let page = render(&spec);
    assert!(page.contains("### GET /api/v1/contracts/{id}/report"), "every operation has its section");
    assert!(page.contains("| `period` | query | yes |"), "parameters behind $ref and inline are listed");
    let path = root.join("docs/api.md");
    if std::env::var_os("SLAPROBE_UPDATE_DOCS").is_some() {
        std::fs::write(&path, &page).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == page,
        "docs/api.md is stale (openapi.json changed); regenerate it with \
         `SLAPROBE_UPDATE_DOCS=1 cargo test --workspace --test api_docs` and commit it"
    );
}
