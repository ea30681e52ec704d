//! The document's own consistency; whether the gateway keeps to it is `tests/openapi.rs`.

use serde_json::Value;
use utoipa::OpenApi;

use super::ApiDoc;
use crate::model::deploy_rules::FIELDS;

fn document() -> Value {
    serde_json::to_value(ApiDoc::openapi()).expect("the document serialises")
}

/// Every `$ref` string under `value`.
fn references(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(target)) = map.get("$ref") {
                out.push(target.clone());
            }
            map.values().for_each(|v| references(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| references(v, out)),
        _ => {}
    }
}

#[test]
fn every_reference_names_a_schema_of_the_document() {
    let doc = document();
    let mut found = Vec::new();
    references(&doc, &mut found);
    assert!(!found.is_empty(), "the document references no schema");
    let schemas = &doc["components"]["schemas"];
    let dangling: Vec<&String> = found
        .iter()
        .filter(|r| {
            r.strip_prefix("#/components/schemas/")
                .is_none_or(|name| schemas.get(name).is_none())
        })
        .collect();
    assert!(dangling.is_empty(), "references to nothing: {dangling:?}");
}

#[test]
fn each_shape_of_the_deploy_body_lists_every_field_the_parser_knows_and_no_other() {
    let doc = document();
    let mut expected: Vec<&str> = FIELDS.to_vec();
    expected.sort_unstable();
    for shape in ["DeployWithCode", "DeployWithFiles", "Undeploy"] {
        let schema = &doc["components"]["schemas"][shape];
        let mut listed: Vec<&str> = schema["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("{shape} has properties"))
            .keys()
            .map(String::as_str)
            .collect();
        listed.sort_unstable();
        assert_eq!(listed, expected, "{shape}");
        assert_eq!(
            schema["additionalProperties"],
            Value::Bool(false),
            "{shape}"
        );
    }
}

#[test]
fn every_operation_has_a_unique_id_and_every_answer_its_request_id() {
    let doc = document();
    let mut ids = std::collections::BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("a path item") {
            let id = op["operationId"].as_str().unwrap_or_default().to_owned();
            assert!(ids.insert(id.clone()), "{method} {path}: id {id:?} twice");
            for (status, answer) in op["responses"].as_object().expect("responses") {
                assert_eq!(
                    answer["headers"]["X-Request-Id"]["required"],
                    Value::Bool(true),
                    "{method} {path} {status}"
                );
            }
        }
    }
}

#[test]
fn the_invoke_route_is_declared_in_each_shape_the_router_serves() {
    let doc = document();
    for path in ["/api/{path}", "/api/{path}/", "/api/{path}/{rest}"] {
        let item = &doc["paths"][path];
        for method in [
            "get", "put", "post", "delete", "options", "head", "patch", "trace",
        ] {
            assert!(item[method].is_object(), "{method} {path}");
        }
        let takes_rest = item["get"]["parameters"]
            .as_array()
            .expect("parameters")
            .iter()
            .any(|p| p["name"] == "rest");
        assert_eq!(takes_rest, path.ends_with("{rest}"), "{path}");
    }
}
