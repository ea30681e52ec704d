//! Schemas of bodies whose types the handlers do not spell out: the namespace bodies (parsed
//! from JSON by `model::namespace`), and answers built in place (an accepted asynchronous
//! call, the runtime's FUNCTION_ERROR, liveness and readiness).

use serde_json::Value;
use utoipa::openapi::schema::{Object, ObjectBuilder, OneOfBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{PartialSchema, ToSchema};

use super::kit::{closed, or_null, pattern};
use crate::model::deploy_rules::DNS_LABEL;
use crate::model::{MAX_QUOTA, QuotaField};

/// `POST /namespaces` body.
pub struct NewNamespace;

/// `PATCH /namespaces/{name}` body.
pub struct QuotaPatch;

/// The limits of a quota as a request gives them: a number, or `null` for none.
pub struct QuotaLimits;

/// `202` answer of an asynchronous call.
pub struct InvokeAccepted;

/// The runtime's answer to an unhandled exception in a handler.
pub struct FunctionError;

/// `GET /health` body.
pub struct Health;

/// `GET /ready` body.
pub struct Readiness;

/// One check of `GET /ready`.
pub struct ReadinessCheck;

fn reference<T: ToSchema>() -> Ref {
    Ref::from_schema_name(T::name())
}

impl PartialSchema for NewNamespace {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .property(
                "name",
                pattern(DNS_LABEL, "a DNS label, not taken by another namespace"),
            )
            .property(
                "quota",
                OneOfBuilder::new()
                    .item(reference::<QuotaLimits>())
                    .item(Object::with_type(Type::Null))
                    .description(Some("limits; absent or null: unlimited")),
            )
            .required("name")
            .additional_properties(Some(closed()))
            .build()
            .into()
    }
}

impl ToSchema for NewNamespace {}

impl PartialSchema for QuotaPatch {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(
                "A JSON merge patch of the quota: a limit given is set, null lifts it, an absent \
                 one stays. No limit may fall below what is in use (409).",
            ))
            .property("quota", reference::<QuotaLimits>())
            .required("quota")
            .additional_properties(Some(closed()))
            .build()
            .into()
    }
}

impl ToSchema for QuotaPatch {}

impl PartialSchema for QuotaLimits {
    fn schema() -> RefOr<Schema> {
        let mut limits = ObjectBuilder::new()
            .schema_type(Type::Object)
            .additional_properties(Some(closed()));
        for field in QuotaField::ALL {
            let description = match field {
                QuotaField::MaxCallbacks => "callbacks the namespace may own",
                QuotaField::MaxInstances => "instances of its callbacks at once",
                QuotaField::MaxMemoryMb => {
                    "memory of those instances together, in MB; also bounds one revision's \
                     max_instances × memory_mb at deploy"
                }
            };
            limits = limits.property(
                field.as_str(),
                ObjectBuilder::new()
                    .schema_type(or_null(Type::Integer))
                    .minimum(Some(0))
                    .maximum(Some(MAX_QUOTA))
                    .description(Some(format!("{description}; null: no limit"))),
            );
        }
        limits.build().into()
    }
}

impl ToSchema for QuotaLimits {}

impl PartialSchema for InvokeAccepted {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .property(
                "id",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .format(Some(SchemaFormat::Custom("uuid".into()))),
            )
            .property("status", constant("queued"))
            .required("id")
            .required("status")
            .build()
            .into()
    }
}

impl ToSchema for InvokeAccepted {}

impl PartialSchema for FunctionError {
    fn schema() -> RefOr<Schema> {
        let error = ObjectBuilder::new()
            .schema_type(Type::Object)
            .property("code", constant("FUNCTION_ERROR"))
            .property(
                "message",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .description(Some("<exception type>: <message>")),
            )
            .required("code")
            .required("message");
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .property("error", error)
            .required("error")
            .build()
            .into()
    }
}

impl ToSchema for FunctionError {}

impl PartialSchema for Health {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .property("status", constant("ok"))
            .property(
                "version",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .description(Some("the gateway's version")),
            )
            .required("status")
            .required("version")
            .build()
            .into()
    }
}

impl ToSchema for Health {}

impl PartialSchema for Readiness {
    fn schema() -> RefOr<Schema> {
        let check = reference::<ReadinessCheck>();
        let checks = ObjectBuilder::new()
            .schema_type(Type::Object)
            .property("database", check.clone())
            .property("docker", check.clone())
            .property("kubernetes", check)
            .required("database")
            .required("docker")
            .additional_properties(Some(closed()))
            .description(Some(
                "the database and each configured backend; one not configured is not listed",
            ));
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .property(
                "status",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(["ready", "not_ready"])),
            )
            .property("checks", checks)
            .required("status")
            .required("checks")
            .build()
            .into()
    }
}

impl ToSchema for Readiness {}

impl PartialSchema for ReadinessCheck {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .property("ok", Object::with_type(Type::Boolean))
            .property(
                "version",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .description(Some("the backend's version, when it answered")),
            )
            .property(
                "error",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .description(Some("why it did not answer")),
            )
            .required("ok")
            .additional_properties(Some(closed()))
            .build()
            .into()
    }
}

impl ToSchema for ReadinessCheck {}

/// A string that is always `value`.
fn constant(value: &str) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some([Value::from(value)]))
        .build()
}

/// A yes-or-no query parameter, as the gateway reads it: `true` or `1`, `false` or `0`; an
/// empty value is `true`.
pub struct Switch;

impl PartialSchema for Switch {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(["true", "false", "1", "0", ""]))
            .build()
            .into()
    }
}

impl ToSchema for Switch {}

/// A `500` of a call: the runtime's FUNCTION_ERROR or the gateway's INTERNAL_ERROR envelope.
pub struct FunctionErrorOrEnvelope;

impl PartialSchema for FunctionErrorOrEnvelope {
    fn schema() -> RefOr<Schema> {
        let either = OneOfBuilder::new()
            .item(reference::<FunctionError>())
            .item(Ref::from_schema_name("ErrorEnvelope"))
            .build();
        RefOr::T(Schema::OneOf(either))
    }
}

impl ToSchema for FunctionErrorOrEnvelope {}
