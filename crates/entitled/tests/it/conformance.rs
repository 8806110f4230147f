//! Conformance of response bodies to RevenueCat's own OpenAPI document.
//!
//! [`assert_conforms`] takes an operation as RevenueCat writes it (method and path template
//! without the `/v2` prefix, e.g. `GET /projects/{project_id}/apps/{app_id}`), a status code and
//! a JSON body, and validates the body against the response schema that RevenueCat's
//! `api-v2.yaml` declares for that operation and status. It panics with the operation, the status
//! and every validation error (with the instance path it was found at) when the body does not
//! conform, or when the document does not list the status for the operation.
//!
//! The document is reference material kept outside the repository, in
//! `shared/reference/revenuecat-openapi/api-v2.yaml` beside the checkout, and is read at test
//! time; where it is absent the checks print a line starting `SKIPPED: conformance:` and pass.
//!
//! The document is OpenAPI 3.0, whose schemas are not quite JSON Schema. On loading, every
//! schema under `components/schemas` is converted to JSON Schema draft 2020-12 and kept under
//! `$defs` of one self-contained schema, so `$ref`s (recursive ones too) resolve without any
//! retrieval:
//!
//! - `$ref: '#/components/schemas/X'` becomes `$ref: '#/$defs/X'`; `$ref: '#/components/responses/X'`
//!   in an operation's responses is followed to that response.
//! - `nullable: true` makes the schema accept `null`: a plain typed schema gets `"null"` added to
//!   its `type` (and to its `enum`, if any); a schema with `$ref`, `allOf`, `oneOf`, `anyOf` or
//!   `not` (where `nullable` cannot be folded into `type`) is wrapped as
//!   `anyOf: [{type: null}, schema]`.
//! - `example`, `examples`, `discriminator`, `xml`, `externalDocs` and `x-…` extensions are
//!   dropped; OpenAPI 3.0's boolean `exclusiveMinimum`/`exclusiveMaximum` become numeric.
//! - `format`s are checked where JSON Schema defines them (`date-time`, `email`, `uri`, …);
//!   others such as `int64` are ignored.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex};

use jsonschema::error::ValidationErrorKind;
use jsonschema::{Draft, ValidationError, Validator};
use serde_json::{Map, Value, json};

/// Where the reference document lies: in `shared/` beside the repository's checkout.
fn document_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/reference/revenuecat-openapi/api-v2.yaml")
}

/// Asserts that `body`, sent with `status` by the operation `method path_template`, conforms to
/// the response schema RevenueCat's OpenAPI document declares for that operation and status.
///
/// `path_template` is the document's path key, without the `/v2` prefix (one with the prefix is
/// accepted too), e.g. `/projects/{project_id}/apps`. Panics with a message naming the
/// operation, the status and every validation error when the body does not conform, or when
/// the document does not list the operation or the status. A response the document declares
/// without a JSON body (the 302 of a redirect) conforms only with `Value::Null`. Prints
/// `SKIPPED: conformance: …` and returns when the document is absent.
#[track_caller]
pub fn assert_conforms(method: &str, path_template: &str, status: u16, body: &Value) {
    assert_conforms_or_own(method, path_template, status, body, &[]);
}

/// Like [`assert_conforms`], but a status in `own_statuses` that RevenueCat does not document
/// for the operation (one that entitled documents itself) is accepted without a schema check.
/// A status RevenueCat does document is always checked, whether or not it is in `own_statuses`.
#[track_caller]
pub fn assert_conforms_or_own(
    method: &str,
    path_template: &str,
    status: u16,
    body: &Value,
    own_statuses: &[u16],
) {
    let reference = match &*REFERENCE {
        Ok(reference) => reference,
        Err(Unavailable::Absent(reason)) => {
            println!(
                "SKIPPED: conformance: {reason}; not checking {} {path_template} -> {status}",
                method.to_uppercase()
            );
            return;
        }
        Err(Unavailable::Broken(reason)) => panic!("conformance: {reason}"),
    };
    let operation = Operation::find(reference, method, path_template);
    let Some((response_label, response)) = operation.response(reference, status) else {
        if own_statuses.contains(&status) {
            return;
        }
        panic!(
            "conformance: {} -> status {status} is undocumented for this operation in \
             RevenueCat's OpenAPI document (it documents {}); if entitled documents this status \
             itself, pass it in `own_statuses`\nbody: {}",
            operation.name(),
            operation.statuses().join(", "),
            excerpt(body),
        );
    };
    let Some(schema) = json_schema_of(response) else {
        assert!(
            body.is_null(),
            "conformance: {} -> {status}: RevenueCat's OpenAPI document declares no JSON body \
             for this response, but one was sent\nbody: {}",
            operation.name(),
            excerpt(body),
        );
        return;
    };
    let validator = validator_for(reference, schema).unwrap_or_else(|err| {
        panic!(
            "conformance: {} -> {status}: the response schema does not compile: {err}",
            operation.name()
        )
    });
    let errors: Vec<ValidationError<'_>> = validator.iter_errors(body).collect();
    if errors.is_empty() {
        return;
    }
    let mut report = String::new();
    for error in &errors {
        render_error(error, 1, &mut report);
    }
    panic!(
        "conformance: {} -> {status}: the body does not conform to RevenueCat's OpenAPI \
         document (response {response_label}, schema {}); {} validation error(s):\n{report}body: {}",
        operation.name(),
        schema_name(schema),
        errors.len(),
        excerpt(body),
    );
}

/// Why the reference document cannot be used.
enum Unavailable {
    /// The file is not there: checks are skipped, saying so.
    Absent(String),
    /// The file is there but unusable: checks fail.
    Broken(String),
}

/// The parts of the reference document the checks need, parsed and converted once.
struct Reference {
    /// The document's `paths`, as written.
    paths: Map<String, Value>,
    /// The document's `components/responses`, as written.
    responses: Map<String, Value>,
    /// The document's `components/schemas`, converted to JSON Schema 2020-12.
    defs: Map<String, Value>,
}

static REFERENCE: LazyLock<Result<Reference, Unavailable>> = LazyLock::new(load);

/// Compiled validators, keyed by the (converted) response schema they check, so operations
/// sharing a response (`BadRequest`, `NotFound`, …) share one validator.
static VALIDATORS: LazyLock<Mutex<HashMap<String, Arc<Validator>>>> =
    LazyLock::new(Default::default);

fn load() -> Result<Reference, Unavailable> {
    let path = document_path();
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return Err(Unavailable::Absent(format!(
                "RevenueCat's OpenAPI document is absent at {}",
                path.display()
            )));
        }
        Err(err) => {
            return Err(Unavailable::Broken(format!(
                "cannot read {}: {err}",
                path.display()
            )));
        }
    };
    let mut document: Value = serde_yaml_ng::from_str(&text)
        .map_err(|err| Unavailable::Broken(format!("cannot parse {}: {err}", path.display())))?;
    let mut take = |pointer: &str| match document.pointer_mut(pointer).map(Value::take) {
        Some(Value::Object(map)) => Ok(map),
        _ => Err(Unavailable::Broken(format!(
            "{} has no object at {pointer}",
            path.display()
        ))),
    };
    let paths = take("/paths")?;
    let responses = take("/components/responses")?;
    let defs = take("/components/schemas")?
        .into_iter()
        .map(|(name, schema)| (name, convert(&schema)))
        .collect();
    Ok(Reference {
        paths,
        responses,
        defs,
    })
}

/// The keys of a path item that name operations.
const HTTP_METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "patch", "head", "options", "trace",
];

/// One operation of the document: its method, its path key and its object.
struct Operation<'a> {
    method: String,
    path: &'a str,
    object: &'a Map<String, Value>,
}

impl<'a> Operation<'a> {
    /// The operation `method path_template`; panics, naming what is missing, when the document
    /// has no such operation.
    #[track_caller]
    fn find(reference: &'a Reference, method: &str, path_template: &str) -> Self {
        let method = method.to_lowercase();
        let wanted = path_template
            .strip_prefix("/v2")
            .filter(|rest| rest.starts_with('/'))
            .unwrap_or(path_template);
        let (path, item) = reference
            .paths
            .get_key_value(wanted)
            .or_else(|| {
                // The same route with differently named parameters.
                let shape = placeholder_shape(wanted);
                reference
                    .paths
                    .iter()
                    .find(|(key, _)| placeholder_shape(key) == shape)
            })
            .unwrap_or_else(|| {
                panic!(
                    "conformance: RevenueCat's OpenAPI document has no path {path_template:?} \
                     (paths are written without the /v2 prefix, e.g. /projects/{{project_id}}/apps)"
                )
            });
        let object = item
            .get(&method)
            .and_then(Value::as_object)
            .unwrap_or_else(|| {
                let methods: Vec<String> = item
                    .as_object()
                    .into_iter()
                    .flat_map(|item| item.keys())
                    .filter(|key| HTTP_METHODS.contains(&key.as_str()))
                    .map(|key| key.to_uppercase())
                    .collect();
                panic!(
                    "conformance: RevenueCat's OpenAPI document has no operation {} {path} \
                     (it has {})",
                    method.to_uppercase(),
                    methods.join(", ")
                )
            });
        Self {
            method,
            path,
            object,
        }
    }

    /// `GET /projects/{project_id}/apps`, for messages.
    fn name(&self) -> String {
        format!("{} {}", self.method.to_uppercase(), self.path)
    }

    fn responses(&self) -> Option<&'a Map<String, Value>> {
        self.object.get("responses").and_then(Value::as_object)
    }

    /// The response keys the operation lists (`200`, `4XX`, `default`, …).
    fn statuses(&self) -> Vec<String> {
        self.responses()
            .map(|responses| responses.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// The response documented for `status` (exact code, then `NXX` range, then `default`),
    /// `$ref`s to `components/responses` followed, with a label for messages: the key it is
    /// listed under and the `$ref`s followed, e.g. `'400' = #/components/responses/BadRequest`.
    #[track_caller]
    fn response(&self, reference: &'a Reference, status: u16) -> Option<(String, &'a Value)> {
        let responses = self.responses()?;
        let exact = status.to_string();
        let range = format!("{}XX", status / 100);
        let (key, mut response) = responses
            .get_key_value(&exact)
            .or_else(|| {
                responses
                    .iter()
                    .find(|(key, _)| key.eq_ignore_ascii_case(&range))
            })
            .or_else(|| responses.get_key_value("default"))?;
        let mut label = format!("'{key}'");
        for _ in 0..16 {
            let Some(target) = response.get("$ref").and_then(Value::as_str) else {
                return Some((label, response));
            };
            label.push_str(&format!(" = {target}"));
            response = target
                .strip_prefix("#/components/responses/")
                .and_then(|name| reference.responses.get(name))
                .unwrap_or_else(|| {
                    panic!(
                        "conformance: {} -> {key}: cannot resolve response $ref {target:?}",
                        self.name()
                    )
                });
        }
        panic!(
            "conformance: {} -> {key}: response $refs nest too deep",
            self.name()
        );
    }
}

/// A path template with its parameter names blanked: `/projects/{}/apps`.
fn placeholder_shape(path: &str) -> String {
    let mut shape = String::with_capacity(path.len());
    let mut in_braces = false;
    for c in path.chars() {
        match c {
            '{' => {
                in_braces = true;
                shape.push(c);
            }
            '}' => {
                in_braces = false;
                shape.push(c);
            }
            _ if in_braces => {}
            _ => shape.push(c),
        }
    }
    shape
}

/// The (OpenAPI) schema of a response's JSON content, if it declares one.
fn json_schema_of(response: &Value) -> Option<&Value> {
    let content = response.get("content")?.as_object()?;
    content
        .iter()
        .find(|(media_type, _)| {
            let essence = media_type.split(';').next().unwrap_or_default().trim();
            essence.eq_ignore_ascii_case("application/json") || essence.ends_with("+json")
        })
        .and_then(|(_, media)| media.get("schema"))
}

/// `#/components/schemas/App` for a plain `$ref`, `inline` otherwise.
fn schema_name(schema: &Value) -> String {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(target) if schema.as_object().is_some_and(|object| object.len() == 1) => {
            target.to_string()
        }
        _ => "inline".to_string(),
    }
}

/// The compiled validator for a response schema (OpenAPI form), from the cache or compiled now.
fn validator_for(reference: &Reference, schema: &Value) -> Result<Arc<Validator>, String> {
    let converted = convert(schema);
    let key = converted.to_string();
    let mut cache = VALIDATORS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(validator) = cache.get(&key) {
        return Ok(Arc::clone(validator));
    }
    let mut root = Map::new();
    root.insert(
        "$schema".into(),
        json!("https://json-schema.org/draft/2020-12/schema"),
    );
    root.insert("$defs".into(), Value::Object(reference.defs.clone()));
    match converted {
        Value::Object(object) => root.extend(object),
        other => {
            root.insert("allOf".into(), json!([other]));
        }
    }
    let validator = jsonschema::options()
        .with_draft(Draft::Draft202012)
        .should_validate_formats(true)
        .build(&Value::Object(root))
        .map_err(|err| err.to_string())?;
    let validator = Arc::new(validator);
    cache.insert(key, Arc::clone(&validator));
    Ok(validator)
}

/// Converts an OpenAPI 3.0 schema object to JSON Schema draft 2020-12 (see the module docs).
fn convert(schema: &Value) -> Value {
    let Value::Object(object) = schema else {
        // `true`/`false` schemas, and anything malformed, are left for the compiler to judge.
        return schema.clone();
    };
    let mut out = Map::new();
    let mut nullable = false;
    for (key, value) in object {
        match key.as_str() {
            "nullable" => nullable = value.as_bool() == Some(true),
            "example" | "examples" | "discriminator" | "xml" | "externalDocs" => {}
            _ if key.starts_with("x-") => {}
            "$ref" => {
                let target = value.as_str().map(|target| {
                    match target.strip_prefix("#/components/schemas/") {
                        Some(name) => json!(format!("#/$defs/{name}")),
                        None => json!(target),
                    }
                });
                out.insert(key.clone(), target.unwrap_or_else(|| value.clone()));
            }
            "properties" | "patternProperties" => {
                let converted = match value {
                    Value::Object(properties) => Value::Object(
                        properties
                            .iter()
                            .map(|(name, schema)| (name.clone(), convert(schema)))
                            .collect(),
                    ),
                    other => other.clone(),
                };
                out.insert(key.clone(), converted);
            }
            "items" | "additionalProperties" | "not" | "contains" | "propertyNames" => {
                out.insert(key.clone(), convert(value));
            }
            "allOf" | "anyOf" | "oneOf" => {
                let converted = match value {
                    Value::Array(schemas) => Value::Array(schemas.iter().map(convert).collect()),
                    other => other.clone(),
                };
                out.insert(key.clone(), converted);
            }
            _ => {
                out.insert(key.clone(), value.clone());
            }
        }
    }
    // OpenAPI 3.0 (JSON Schema draft 4): `exclusiveMinimum: true` qualifies `minimum`.
    for (exclusive, bound) in [
        ("exclusiveMinimum", "minimum"),
        ("exclusiveMaximum", "maximum"),
    ] {
        match out.get(exclusive) {
            Some(Value::Bool(true)) => {
                let limit = out.remove(bound);
                out.remove(exclusive);
                if let Some(limit) = limit {
                    out.insert(exclusive.into(), limit);
                }
            }
            Some(Value::Bool(false)) => {
                out.remove(exclusive);
            }
            _ => {}
        }
    }
    if nullable {
        return make_nullable(out);
    }
    Value::Object(out)
}

/// A converted schema that also accepts `null`.
fn make_nullable(mut schema: Map<String, Value>) -> Value {
    let composite = ["$ref", "allOf", "anyOf", "oneOf", "not"]
        .iter()
        .any(|key| schema.contains_key(*key));
    let foldable = !composite
        && match schema.get("type") {
            None | Some(Value::String(_)) => true,
            Some(Value::Array(types)) => types.iter().all(Value::is_string),
            Some(_) => false,
        };
    if !foldable {
        return json!({ "anyOf": [{ "type": "null" }, schema] });
    }
    match schema.get_mut("type") {
        Some(Value::String(single)) if single != "null" => {
            let single = std::mem::take(single);
            schema.insert("type".into(), json!([single, "null"]));
        }
        Some(Value::Array(types)) if !types.contains(&json!("null")) => types.push(json!("null")),
        _ => {}
    }
    if let Some(Value::Array(values)) = schema.get_mut("enum")
        && !values.contains(&Value::Null)
    {
        values.push(Value::Null);
    }
    if !schema.contains_key("enum")
        && let Some(constant) = schema.remove("const")
    {
        schema.insert("enum".into(), json!([constant, null]));
    }
    Value::Object(schema)
}

/// Appends one validation error, and the errors of each `anyOf`/`oneOf` branch it stands for,
/// indented by `depth`.
fn render_error(error: &ValidationError<'_>, depth: usize, out: &mut String) {
    let indent = "  ".repeat(depth);
    let at = error.instance_path().to_string();
    let at = if at.is_empty() { "(root)".into() } else { at };
    out.push_str(&format!(
        "{indent}- at {at}: {error} [schema {}]\n",
        error.evaluation_path()
    ));
    let branches = match error.kind() {
        ValidationErrorKind::AnyOf { context }
        | ValidationErrorKind::OneOfNotValid { context }
        | ValidationErrorKind::OneOfMultipleValid { context } => context,
        _ => return,
    };
    if depth >= 6 {
        return;
    }
    for (index, branch) in branches.iter().enumerate() {
        if branch.is_empty() {
            out.push_str(&format!("{indent}  branch {index}: valid\n"));
            continue;
        }
        out.push_str(&format!("{indent}  branch {index}:\n"));
        for error in branch {
            render_error(error, depth + 2, out);
        }
    }
}

/// The body, pretty-printed, cut after a few thousand characters.
fn excerpt(body: &Value) -> String {
    const LIMIT: usize = 4000;
    let text = serde_json::to_string_pretty(body).unwrap_or_else(|_| body.to_string());
    match text.char_indices().nth(LIMIT) {
        Some((cut, _)) => format!(
            "{}… ({} characters in all)",
            &text[..cut],
            text.chars().count()
        ),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use std::panic::{AssertUnwindSafe, catch_unwind};

    use serde_json::json;

    use super::*;

    /// Whether the reference document can be used; prints the skip line when it cannot.
    fn document_present(test: &str) -> bool {
        match &*REFERENCE {
            Ok(_) => true,
            Err(Unavailable::Absent(reason)) => {
                println!("SKIPPED: conformance: {test}: {reason}");
                false
            }
            Err(Unavailable::Broken(reason)) => panic!("conformance: {reason}"),
        }
    }

    /// The panic message of `check`, which must panic.
    fn failure(check: impl FnOnce()) -> String {
        let payload = catch_unwind(AssertUnwindSafe(check)).expect_err("the check passed");
        payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    }

    fn app() -> Value {
        json!({
            "object": "app",
            "id": "app1a2b3c4",
            "name": "My iOS app",
            "created_at": 1658399423658_i64,
            "type": "app_store",
            "project_id": "proj1a2b3c4",
            "app_store": { "bundle_id": "com.example.app" }
        })
    }

    fn error() -> Value {
        json!({
            "object": "error",
            "type": "parameter_error",
            "message": "m",
            "retryable": false,
            "doc_url": "/x"
        })
    }

    #[test]
    fn a_valid_app_passes() {
        if !document_present("a_valid_app_passes") {
            return;
        }
        assert_conforms("GET", "/projects/{project_id}/apps/{app_id}", 200, &app());
        // The same operation written with the /v2 prefix, in lower case.
        assert_conforms(
            "get",
            "/v2/projects/{project_id}/apps/{app_id}",
            200,
            &app(),
        );
    }

    #[test]
    fn an_app_missing_a_required_field_or_of_the_wrong_type_fails() {
        if !document_present("an_app_missing_a_required_field_or_of_the_wrong_type_fails") {
            return;
        }
        let mut body = app();
        body.as_object_mut().unwrap().remove("project_id");
        body["created_at"] = json!("yesterday");
        let message =
            failure(|| assert_conforms("GET", "/projects/{project_id}/apps/{app_id}", 200, &body));
        assert!(
            message.contains("GET /projects/{project_id}/apps/{app_id}"),
            "{message}"
        );
        assert!(message.contains("project_id"), "{message}");
        assert!(message.contains("at /created_at"), "{message}");
        assert!(message.contains("2 validation error(s)"), "{message}");
    }

    #[test]
    fn an_unknown_field_fails_where_additional_properties_are_forbidden() {
        if !document_present("an_unknown_field_fails_where_additional_properties_are_forbidden") {
            return;
        }
        assert_conforms("GET", "/projects/{project_id}/apps/{app_id}", 400, &error());
        let mut body = error();
        body["surprise"] = json!(1);
        let message =
            failure(|| assert_conforms("GET", "/projects/{project_id}/apps/{app_id}", 400, &body));
        assert!(message.contains("-> 400"), "{message}");
        assert!(message.contains("surprise"), "{message}");
        assert!(message.contains("at (root)"), "{message}");
    }

    #[test]
    fn a_wrong_enum_value_fails() {
        if !document_present("a_wrong_enum_value_fails") {
            return;
        }
        let mut body = app();
        body["type"] = json!("windows_phone");
        let message =
            failure(|| assert_conforms("GET", "/projects/{project_id}/apps/{app_id}", 200, &body));
        assert!(message.contains("at /type"), "{message}");
        assert!(message.contains("windows_phone"), "{message}");

        // BadRequest narrows the Error schema's `type` to two values.
        let mut body = error();
        body["type"] = json!("resource_missing");
        let message =
            failure(|| assert_conforms("GET", "/projects/{project_id}/apps/{app_id}", 400, &body));
        assert!(message.contains("at /type"), "{message}");
    }

    #[test]
    fn null_passes_where_the_schema_is_nullable_and_fails_where_it_is_not() {
        if !document_present("null_passes_where_the_schema_is_nullable_and_fails_where_it_is_not") {
            return;
        }
        let mut body = error();
        body["param"] = Value::Null;
        body["backoff_ms"] = Value::Null;
        assert_conforms("GET", "/projects/{project_id}/apps/{app_id}", 400, &body);
        body["param"] = json!("app_id");
        body["backoff_ms"] = json!(1000);
        assert_conforms("GET", "/projects/{project_id}/apps/{app_id}", 400, &body);

        let mut body = error();
        body["message"] = Value::Null;
        let message =
            failure(|| assert_conforms("GET", "/projects/{project_id}/apps/{app_id}", 400, &body));
        assert!(message.contains("at /message"), "{message}");
    }

    #[test]
    fn nullable_is_folded_into_enums_and_wrapped_around_refs() {
        let schema = convert(&json!({
            "type": "string", "enum": ["a", "b"], "nullable": true, "example": "a"
        }));
        assert_eq!(
            schema,
            json!({ "type": ["string", "null"], "enum": ["a", "b", null] })
        );
        let schema = convert(&json!({ "$ref": "#/components/schemas/X", "nullable": true }));
        assert_eq!(
            schema,
            json!({ "anyOf": [{ "type": "null" }, { "$ref": "#/$defs/X" }] })
        );
        let schema = convert(&json!({
            "type": "object",
            "properties": { "example": { "type": "string", "example": "e" } },
            "discriminator": { "propertyName": "type" }
        }));
        assert_eq!(
            schema,
            json!({ "type": "object", "properties": { "example": { "type": "string" } } })
        );
    }

    #[test]
    fn an_undocumented_status_fails_unless_entitled_documents_it_itself() {
        if !document_present("an_undocumented_status_fails_unless_entitled_documents_it_itself") {
            return;
        }
        let message = failure(|| {
            assert_conforms("GET", "/projects/{project_id}/apps/{app_id}", 418, &error())
        });
        assert!(message.contains("status 418 is undocumented"), "{message}");
        assert!(
            message.contains("GET /projects/{project_id}/apps/{app_id}"),
            "{message}"
        );

        assert_conforms_or_own(
            "GET",
            "/projects/{project_id}/apps/{app_id}",
            418,
            &json!({ "anything": true }),
            &[418],
        );
        // A status RevenueCat documents is checked even when entitled lists it as its own.
        let mut body = error();
        body["surprise"] = json!(1);
        failure(|| {
            assert_conforms_or_own(
                "GET",
                "/projects/{project_id}/apps/{app_id}",
                400,
                &body,
                &[400],
            )
        });
    }

    #[test]
    fn every_response_schema_of_the_document_compiles() {
        if !document_present("every_response_schema_of_the_document_compiles") {
            return;
        }
        let Ok(reference) = &*REFERENCE else {
            unreachable!()
        };
        let mut checked = 0;
        for (path, item) in &reference.paths {
            let methods = item.as_object().into_iter().flat_map(|item| item.keys());
            for method in methods.filter(|key| HTTP_METHODS.contains(&key.as_str())) {
                let operation = Operation::find(reference, method, path);
                for key in operation.statuses() {
                    let Ok(status) = key.parse::<u16>() else {
                        continue;
                    };
                    let (label, response) = operation
                        .response(reference, status)
                        .expect("a listed status");
                    if let Some(schema) = json_schema_of(response) {
                        validator_for(reference, schema)
                            .unwrap_or_else(|err| panic!("{} -> {label}: {err}", operation.name()));
                        checked += 1;
                    }
                }
            }
        }
        assert!(checked > 100, "only {checked} response schemas found");
    }

    #[test]
    fn an_unknown_operation_fails() {
        if !document_present("an_unknown_operation_fails") {
            return;
        }
        let message = failure(|| assert_conforms("GET", "/coffee", 200, &json!({})));
        assert!(message.contains("no path"), "{message}");
        let message = failure(|| {
            assert_conforms("PATCH", "/projects/{project_id}/apps/{app_id}", 200, &app())
        });
        assert!(message.contains("no operation PATCH"), "{message}");
    }
}
