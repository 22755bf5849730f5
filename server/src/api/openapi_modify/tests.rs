use utoipa::OpenApi as _;

use super::*;
use crate::api::openapi::ApiDoc;

/// `ApiDoc::openapi()` has applied the rules once; applying them again finds every field
/// but those the first pass removed.
#[test]
fn every_rule_finds_its_field() {
    let mut doc = ApiDoc::openapi();
    let mut removed: Vec<String> = RULES
        .iter()
        .filter(|(_, _, rules)| rules.iter().any(|r| matches!(r, Removed)))
        .map(|(schema, property, _)| format!("{schema}.{property}"))
        .collect();
    removed.sort();
    assert!(!removed.is_empty());
    assert_eq!(tighten(&mut doc), removed);
}

/// A parameter declared `in: path` is in the path's template (a query struct without
/// `#[into_params(parameter_in = Query)]` would land there, required).
#[test]
fn path_parameters_are_in_their_path() {
    let doc = ApiDoc::openapi();
    let mut misplaced = Vec::new();
    for (path, item) in &doc.paths.paths {
        let mut item = item.clone();
        for (method, operation) in operations(&mut item) {
            for parameter in operation.parameters.iter().flatten() {
                if let RefOr::T(parameter) = parameter
                    && parameter.parameter_in == ParameterIn::Path
                    && !path.contains(&format!("{{{}}}", parameter.name))
                {
                    misplaced.push(format!("{method} {path} {}", parameter.name));
                }
            }
        }
    }
    assert_eq!(misplaced, Vec::<String>::new());
}

#[test]
fn names_of_links_and_ids() {
    assert_eq!(
        link_name("/schedulers/{name}/add-rooms", "post"),
        "PostSchedulersAddRooms"
    );
    assert_eq!(
        operation_ref("/schedulers/{name}", "get"),
        "#/paths/~1schedulers~1{name}/get"
    );
}
