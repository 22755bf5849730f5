//! What the derived OpenAPI document cannot say by itself, added after it is generated:
//!
//! - the rules validation enforces (patterns, ranges, lengths, enums, required fields), so a
//!   client (or a fuzzer) can tell a body Baton accepts from one it refuses;
//! - the statuses every operation can answer whatever its handler does: 400 when a query
//!   parameter or the body does not fit, 401 and 429 (with `Retry-After`) from the password
//!   checks, 415 for a body that is not JSON or YAML;
//! - links from the operations that create a scheduler, an operation or a claim to the paths
//!   that take its name or id;
//! - operation ids that are unique (several handlers share a function name).
//!
//! Each rule names the schema and property it applies to; `unmatched` lists those that found
//! nothing, so a renamed field cannot silently drop its rule (a test asserts there are none).

use serde_json::{Value, json};
use utoipa::openapi::content::Content;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::link::LinkBuilder;
use utoipa::openapi::path::{Operation, ParameterIn, PathItem};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{AdditionalProperties, Object, ObjectBuilder, Schema, Type};
use utoipa::openapi::{OpenApi, Ref, RefOr};

mod rules;
#[cfg(test)]
mod tests;

use rules::Rule::{self, *};
use rules::{PARAMETER_RULES, RULES};

/// Applies the rules, statuses, links and ids; answers the rules that found nothing.
pub fn tighten(doc: &mut OpenApi) -> Vec<String> {
    let mut unmatched = Vec::new();
    for (schema, property, rules) in RULES {
        for rule in *rules {
            if !apply(doc, schema, property, *rule) {
                unmatched.push(format!("{schema}.{property}"));
            }
        }
    }
    for (name, rules) in PARAMETER_RULES {
        for rule in *rules {
            if !constrain_parameters(doc, name, *rule) {
                unmatched.push(format!("?{name}"));
            }
        }
    }
    if !add_patch_schema(doc) {
        unmatched.push("the body of patch /schedulers/{name}".into());
    }
    unmatched.extend(add_links(doc));
    add_common_statuses(doc);
    for (path, method) in CHANGES {
        let Some(operation) = operation_mut(doc, path, method) else {
            unmatched.push(format!("409 of {method} {path}"));
            continue;
        };
        operation
            .responses
            .responses
            .entry("409".into())
            .or_insert_with(|| {
                error_response(
                    "`FAILED_PRECONDITION`: another operation of the scheduler is waiting or \
                 running (its id is in `operationId`); nothing changed",
                )
                .build()
                .into()
            });
    }
    make_operation_ids_unique(doc);
    unmatched.sort();
    unmatched.dedup();
    unmatched
}

/// The utoipa modifier: `ApiDoc` lists it.
pub struct Tighten;

impl utoipa::Modify for Tighten {
    fn modify(&self, openapi: &mut OpenApi) {
        for missing in tighten(openapi) {
            tracing::warn!(%missing, "an OpenAPI rule found no schema to apply to");
        }
    }
}

fn component<'a>(doc: &'a mut OpenApi, name: &str) -> Option<&'a mut Object> {
    match doc.components.as_mut()?.schemas.get_mut(name)? {
        RefOr::T(Schema::Object(object)) => Some(object),
        _ => None,
    }
}

/// The schema a property's rules go to: itself, the array it is, or the non-null member of an
/// optional value (`oneOf [null, X]`).
fn property_schema(schema: &mut RefOr<Schema>) -> Option<&mut Schema> {
    match schema {
        RefOr::T(Schema::OneOf(one_of)) => {
            let index = one_of.items.iter().position(|item| {
                matches!(item, RefOr::T(s @ (Schema::Object(_) | Schema::Array(_))) if !is_null(s))
            })?;
            match &mut one_of.items[index] {
                RefOr::T(schema) => Some(schema),
                RefOr::Ref(_) => None,
            }
        }
        RefOr::T(schema) => Some(schema),
        RefOr::Ref(_) => None,
    }
}

fn is_null(schema: &Schema) -> bool {
    matches!(schema, Schema::Object(o) if o.schema_type == Type::Null.into())
}

/// Applies `rule` to `schema.property`, or to the schema itself when `property` is empty.
fn apply(doc: &mut OpenApi, schema: &str, property: &str, rule: Rule) -> bool {
    let Some(object) = component(doc, schema) else {
        return false;
    };
    if property.is_empty() {
        return constrain_object(object, rule);
    }
    if !object.properties.contains_key(property) {
        return false;
    }
    match rule {
        Required => {
            if !object.required.iter().any(|r| r == property) {
                object.required.push(property.to_string());
            }
            return true;
        }
        Removed => {
            object.properties.remove(property);
            object.required.retain(|r| r != property);
            return true;
        }
        _ => {}
    }
    match object
        .properties
        .get_mut(property)
        .and_then(property_schema)
    {
        Some(Schema::Array(array)) => match rule {
            MinItems(min) => {
                array.min_items = Some(min);
                true
            }
            _ => false,
        },
        Some(Schema::Object(o)) => constrain_object(o, rule),
        _ => false,
    }
}

fn constrain_object(o: &mut Object, rule: Rule) -> bool {
    match rule {
        Pattern(pattern) => o.pattern = Some(pattern.to_string()),
        Length(min, max) => {
            o.min_length = Some(min);
            o.max_length = Some(max);
        }
        Range(min, max) => {
            o.minimum = Some(min.into());
            o.maximum = Some(max.into());
        }
        MinLength(min) => o.min_length = Some(min),
        Min(min) => o.minimum = Some(min.into()),
        Above(min) => o.exclusive_minimum = Some(min.into()),
        Closed => o.additional_properties = Some(Box::new(AdditionalProperties::FreeForm(false))),
        OneOf(values) => o.enum_values = Some(values.iter().map(|v| json!(v)).collect()),
        Keys(pattern) => {
            o.property_names = Some(Box::new(Schema::Object(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some(pattern))
                    .build(),
            )))
        }
        Values(max_length) => {
            o.additional_properties = Some(Box::new(AdditionalProperties::RefOr(RefOr::T(
                Schema::Object(
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .max_length(Some(max_length))
                        .build(),
                ),
            ))))
        }
        Keyword(name, value) => {
            o.extensions
                .get_or_insert_with(Default::default)
                .insert(name.to_string(), value());
        }
        Required | Removed | MinItems(..) => return false,
    }
    true
}

/// Applies `rule` to every query parameter called `name`; whether there was one.
fn constrain_parameters(doc: &mut OpenApi, name: &str, rule: Rule) -> bool {
    let mut found = false;
    for item in doc.paths.paths.values_mut() {
        for (_, operation) in operations(item) {
            for parameter in operation.parameters.iter_mut().flatten() {
                let RefOr::T(parameter) = parameter else {
                    continue;
                };
                if parameter.name != name || parameter.parameter_in != ParameterIn::Query {
                    continue;
                }
                if let Some(RefOr::T(Schema::Object(schema))) = parameter.schema.as_mut() {
                    found |= constrain_object(schema, rule);
                }
            }
        }
    }
    found
}

/// `PATCH /schedulers/{name}` takes a merge patch of the scheduler: its fields, none required,
/// name and game left out (neither can change).
fn add_patch_schema(doc: &mut OpenApi) -> bool {
    let Some(mut patch) = component(doc, "SchedulerConfig").cloned() else {
        return false;
    };
    patch.required.clear();
    patch.properties.remove("name");
    patch.properties.remove("game");
    patch.extensions = None;
    patch.description = Some(
        "A JSON merge patch (RFC 7386) of the scheduler: objects merge, null removes a field \
         (its default applies), anything else replaces; the result must be a valid scheduler"
            .into(),
    );
    let Some(components) = doc.components.as_mut() else {
        return false;
    };
    components
        .schemas
        .insert("SchedulerPatch".into(), RefOr::T(Schema::Object(patch)));
    let Some(Some(RefOr::T(body))) =
        operation_mut(doc, "/schedulers/{name}", "patch").map(|o| o.request_body.as_mut())
    else {
        return false;
    };
    for content in body.content.values_mut() {
        if let RefOr::T(content) = content {
            content.schema = Some(Ref::from_schema_name("SchedulerPatch").into());
        }
    }
    true
}

/// `$request.path.NAME`.
fn request_path(name: &str) -> Value {
    json!(format!("$request.path.{name}"))
}

/// `$response.body#POINTER`.
fn response_body(pointer: &str) -> Value {
    json!(format!("$response.body#{pointer}"))
}

/// The paths that take a scheduler's name, by method, and what else they take.
const SCHEDULER_PATHS: &[(&str, &str)] = &[
    ("/schedulers/{name}", "get"),
    ("/schedulers/{name}", "post"),
    ("/schedulers/{name}", "patch"),
    ("/schedulers/{name}", "put"),
    ("/schedulers/{name}", "delete"),
    ("/schedulers/{name}/versions", "get"),
    ("/schedulers/{name}/rooms", "get"),
    ("/schedulers/{name}/rooms/history", "get"),
    ("/schedulers/{name}/regions", "get"),
    ("/schedulers/{name}/autoscaling/decisions", "get"),
    ("/schedulers/{name}/capacity", "get"),
    ("/schedulers/{name}/operations", "get"),
    ("/schedulers/{name}/add-rooms", "post"),
    ("/schedulers/{name}/remove-rooms", "post"),
    ("/schedulers/{name}/allocations", "post"),
];

/// Operations that answer a `ChangeResponse` (the scheduler and its operation's id).
const CHANGES: &[(&str, &str)] = &[
    ("/schedulers", "post"),
    ("/schedulers/{name}", "post"),
    ("/schedulers/{name}", "patch"),
    ("/schedulers/{name}", "put"),
    ("/schedulers/{name}/add-rooms", "post"),
    ("/schedulers/{name}/remove-rooms", "post"),
];

/// `#/paths/~1schedulers~1{name}/get`: an operation by path and method.
fn operation_ref(path: &str, method: &str) -> String {
    format!(
        "#/paths/{}/{method}",
        path.replace('~', "~0").replace('/', "~1")
    )
}

fn link_name(path: &str, method: &str) -> String {
    let words: String = path
        .split(['/', '-'])
        .filter(|w| !w.is_empty() && !w.starts_with('{'))
        .map(|w| {
            let mut chars = w.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect();
    let mut method = method.to_string();
    if let Some(first) = method.get_mut(0..1) {
        first.make_ascii_uppercase();
    }
    format!("{method}{words}")
}

/// Links from the operations that make a name or an id to those that take it.
fn add_links(doc: &mut OpenApi) -> Vec<String> {
    let mut missing = Vec::new();
    let scheduler_links: Vec<(String, String, Value)> = SCHEDULER_PATHS
        .iter()
        .map(|(path, method)| {
            (
                link_name(path, method),
                operation_ref(path, method),
                json!({"name": response_body("/scheduler/name")}),
            )
        })
        .collect();
    for (path, method) in CHANGES {
        let mut links = scheduler_links.clone();
        for (target, target_method) in [
            ("/schedulers/{name}/operations/{id}", "get"),
            ("/schedulers/{name}/operations/{id}/cancel", "post"),
        ] {
            links.push((
                link_name(target, target_method),
                operation_ref(target, target_method),
                json!({"name": response_body("/scheduler/name"), "id": response_body("/operationId")}),
            ));
        }
        if !add_response_links(doc, path, method, "200", &links) {
            missing.push(format!("links of {method} {path}"));
        }
    }
    let claims = [(
        "DeleteSchedulersAllocations".to_string(),
        operation_ref("/schedulers/{name}/allocations/{claim}", "delete"),
        json!({"name": request_path("name"), "claim": response_body("/claimId")}),
    )];
    for path in [
        "/schedulers/{name}/allocations",
        "/schedulers/{name}/rooms/{room}/reserve",
    ] {
        if !add_response_links(doc, path, "post", "201", &claims) {
            missing.push(format!("links of post {path}"));
        }
    }
    let zeuz = [(
        "GetAllocations".to_string(),
        operation_ref("/allocations/{name}", "get"),
        json!({"name": response_body("/allocation/Name")}),
    )];
    if !add_response_links(doc, "/allocations", "post", "200", &zeuz) {
        missing.push("links of post /allocations".into());
    }
    missing
}

fn operation_mut<'a>(doc: &'a mut OpenApi, path: &str, method: &str) -> Option<&'a mut Operation> {
    let item = doc.paths.paths.get_mut(path)?;
    match method {
        "get" => item.get.as_mut(),
        "post" => item.post.as_mut(),
        "put" => item.put.as_mut(),
        "patch" => item.patch.as_mut(),
        "delete" => item.delete.as_mut(),
        _ => None,
    }
}

fn add_response_links(
    doc: &mut OpenApi,
    path: &str,
    method: &str,
    status: &str,
    links: &[(String, String, Value)],
) -> bool {
    let Some(RefOr::T(response)) = operation_mut(doc, path, method)
        .and_then(|operation| operation.responses.responses.get_mut(status))
    else {
        return false;
    };
    for (name, target, parameters) in links {
        let mut link = LinkBuilder::new().operation_ref(target.clone());
        if let Some(parameters) = parameters.as_object() {
            for (key, value) in parameters {
                link = link.parameter(key.clone(), value.clone());
            }
        }
        response.links.insert(name.clone(), link.build().into());
    }
    true
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = (&'static str, &mut Operation)> {
    [
        ("get", item.get.as_mut()),
        ("post", item.post.as_mut()),
        ("put", item.put.as_mut()),
        ("patch", item.patch.as_mut()),
        ("delete", item.delete.as_mut()),
    ]
    .into_iter()
    .filter_map(|(method, operation)| operation.map(|o| (method, o)))
}

fn error_response(description: &str) -> ResponseBuilder {
    ResponseBuilder::new().description(description).content(
        "application/json",
        Content::new(Some(Ref::from_schema_name("ErrorBody"))),
    )
}

/// Statuses any operation may answer whatever its handler does.
fn add_common_statuses(doc: &mut OpenApi) {
    let global_security = doc.security.clone().unwrap_or_default();
    for item in doc.paths.paths.values_mut() {
        for (_, operation) in operations(item) {
            let takes_password = match &operation.security {
                Some(requirements) => requirements.iter().any(|r| {
                    serde_json::to_value(r)
                        .ok()
                        .and_then(|v| v.get("basic").cloned())
                        .is_some()
                }),
                None => !global_security.is_empty(),
            };
            let takes_input = operation.request_body.is_some()
                || operation
                    .parameters
                    .iter()
                    .flatten()
                    .any(|p| matches!(p, RefOr::T(p) if p.parameter_in == ParameterIn::Query));
            let responses = &mut operation.responses.responses;
            if takes_input {
                responses.entry("400".into()).or_insert_with(|| {
                    error_response("`INVALID_ARGUMENT`: a query parameter or the body does not fit; `errors` names each field").build().into()
                });
            }
            if operation.request_body.is_some() {
                responses.entry("415".into()).or_insert_with(|| {
                    error_response("`UNSUPPORTED_MEDIA_TYPE`: the body is neither JSON nor YAML")
                        .build()
                        .into()
                });
            }
            if takes_password {
                responses.entry("401".into()).or_insert_with(|| {
                    error_response("`UNAUTHENTICATED`: no valid Basic credentials")
                        .build()
                        .into()
                });
                responses.entry("429".into()).or_insert_with(|| {
                    error_response(
                        "`RESOURCE_EXHAUSTED`: too many failed password checks from this address \
                         (`--password-check-limit` a minute); retry after `Retry-After` seconds",
                    )
                    .header(
                        "Retry-After",
                        HeaderBuilder::new()
                            .schema(Some(Object::with_type(Type::Integer)))
                            .description(Some("Seconds until checks are allowed again"))
                            .build(),
                    )
                    .build()
                    .into()
                });
            }
        }
    }
}

/// Operation ids default to the handler's function name, which several handlers share
/// (`get`, `list`): those are qualified by their path.
fn make_operation_ids_unique(doc: &mut OpenApi) {
    let mut counts = std::collections::HashMap::<String, usize>::new();
    for item in doc.paths.paths.values_mut() {
        for (_, operation) in operations(item) {
            if let Some(id) = &operation.operation_id {
                *counts.entry(id.clone()).or_default() += 1;
            }
        }
    }
    for (path, item) in doc.paths.paths.iter_mut() {
        for (method, operation) in operations(item) {
            let shared = operation
                .operation_id
                .as_ref()
                .is_some_and(|id| counts.get(id).copied().unwrap_or(0) > 1);
            if shared || operation.operation_id.is_none() {
                let mut id = link_name(path, method);
                if let Some(first) = id.get_mut(0..1) {
                    first.make_ascii_lowercase();
                }
                operation.operation_id = Some(id);
            }
        }
    }
}
