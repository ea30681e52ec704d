//! Small builders for the schemas and headers written by hand, and the two keywords utoipa's
//! types have no field for (`not`, a header's `required`): those go in through the maps the
//! types flatten into their JSON.

use serde_json::Value;
use utoipa::openapi::extensions::Extensions;
use utoipa::openapi::header::{Header, HeaderBuilder};
use utoipa::openapi::schema::{
    AdditionalProperties, Object, ObjectBuilder, Schema, SchemaType, Type,
};
use utoipa::openapi::{RefOr, Response};

use crate::model::deploy_rules::IntRule;

/// `type` of a value that may also be `null` (which the gateway reads as absent).
pub fn or_null(t: Type) -> SchemaType {
    SchemaType::from_iter([t, Type::Null])
}

/// `additionalProperties: false`: no field besides those listed.
pub fn closed() -> AdditionalProperties<Schema> {
    AdditionalProperties::FreeForm(false)
}

/// A schema every value matches (`{}`).
pub fn anything() -> Schema {
    ObjectBuilder::new()
        .schema_type(SchemaType::AnyValue)
        .build()
        .into()
}

/// A string matching `pattern`.
pub fn pattern(pattern: &str, description: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(pattern))
        .description(Some(description))
}

/// One of `values` or `null` (absent), defaulting to `default`.
pub fn choice_or_null(values: &[&str], default: Option<&str>, description: &str) -> Object {
    let mut allowed: Vec<Value> = values.iter().map(|v| Value::from(*v)).collect();
    allowed.push(Value::Null);
    ObjectBuilder::new()
        .schema_type(or_null(Type::String))
        .enum_values(Some(allowed))
        .default(default.map(Value::from))
        .description(Some(description))
        .build()
}

/// An integer setting: its range, its default, or `null` (the default).
pub fn setting(rule: IntRule, description: &str) -> Object {
    ObjectBuilder::new()
        .schema_type(or_null(Type::Integer))
        .minimum(Some(rule.min))
        .maximum(Some(rule.max))
        .default(rule.default.map(Value::from))
        .description(Some(description))
        .build()
}

/// `schema` that must not also match `excluded`.
pub fn but_not(schema: Object, excluded: Value) -> Object {
    let mut schema = schema;
    schema
        .extensions
        .get_or_insert_with(Extensions::default)
        .insert("not".into(), excluded);
    schema
}

/// A response header; `required` ones are on every answer of their status.
pub fn header(schema: impl Into<RefOr<Schema>>, required: bool, description: &str) -> Header {
    let mut header = HeaderBuilder::new()
        .schema(Some(schema))
        .description(Some(description))
        .build();
    if required {
        header
            .extensions
            .get_or_insert_with(Extensions::default)
            .insert("required".into(), Value::Bool(true));
    }
    header
}

/// A string header schema.
pub fn text() -> Object {
    Object::with_type(Type::String)
}

/// Adds `header` under `name` to `response`.
pub fn add_header(response: &mut RefOr<Response>, name: &str, header: Header) {
    if let RefOr::T(response) = response {
        response.headers.insert(name.to_owned(), RefOr::T(header));
    }
}
