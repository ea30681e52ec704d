//! The deploy body's schema, from the rules the parser enforces (`model::deploy_rules`): a
//! deploy with `code`, a deploy with `files`, or an undeploy. What JSON Schema cannot say
//! (a rule across fields, a size in bytes) is said in the descriptions; such a body answers
//! `422 VALIDATION_FAILED` naming the field, or `413` when the whole body is too large.

use serde_json::{Value, json};
use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{PartialSchema, ToSchema};

use super::kit::{anything, but_not, choice_or_null, closed, or_null, pattern, setting};
use crate::model::DEFAULT_NAMESPACE;
use crate::model::deploy_rules::{
    CODE_MODULE, CONCURRENCY, CPU, DEFAULT_HANDLER, DNS_LABEL, ENV_NAME, FIELDS, FILE_NAME,
    HANDLER, IDLE_TIMEOUT_S, INT_RULES, KEEP_PAUSED_S, MAX_FILE_NAME_CHARS, MAX_FILES,
    MAX_INSTANCES, MEMORY_MB, MIN_INSTANCES, RESERVED_ENV_PREFIX, TIMEOUT_MS,
};

/// The source limit the document states: `FAAS_MAX_CODE_BYTES`' default.
pub const DEFAULT_MAX_CODE_BYTES: usize = 1024 * 1024;

/// The request body of `POST /callback/deploy`.
pub struct DeployBody;

/// A deploy whose source is one handler module.
pub struct DeployWithCode;

/// A deploy whose source is a set of files.
pub struct DeployWithFiles;

/// An undeploy.
pub struct Undeploy;

impl PartialSchema for DeployBody {
    fn schema() -> RefOr<Schema> {
        let body = OneOfBuilder::new()
            .item(Ref::from_schema_name(DeployWithCode::name()))
            .item(Ref::from_schema_name(DeployWithFiles::name()))
            .item(Ref::from_schema_name(Undeploy::name()))
            .description(Some(
                "A deploy (exactly one of `code` and `files`) or an undeploy. A field set to \
                 null is absent. Rules across fields, answered 422 VALIDATION_FAILED naming the \
                 field: `min_instances` at most `max_instances`; the handler's module file among \
                 the deployed files; the source (`code`, or every file of `files` together) at \
                 most FAAS_MAX_CODE_BYTES bytes of UTF-8 (1 MiB by default); `namespace` the \
                 callback's own on a redeploy; `backend` one this gateway runs. A body over \
                 twice FAAS_MAX_CODE_BYTES answers 413.",
            ))
            .build();
        RefOr::T(Schema::OneOf(body))
    }
}

impl ToSchema for DeployBody {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        for (name, schema) in [
            (DeployWithCode::name(), DeployWithCode::schema()),
            (DeployWithFiles::name(), DeployWithFiles::schema()),
            (Undeploy::name(), Undeploy::schema()),
        ] {
            schemas.push((name.into_owned(), schema));
        }
    }
}

impl PartialSchema for DeployWithCode {
    fn schema() -> RefOr<Schema> {
        let handler = format!(r"^{CODE_MODULE}\.[A-Za-z_][A-Za-z0-9_]*$");
        deploy(
            "A deploy whose source is one module, `handler.py` (python) or `handler.js` (node).",
            ("code", code()),
            ("files", absent()),
            ObjectBuilder::new()
                .schema_type(or_null(Type::String))
                .pattern(Some(handler))
                .default(Some(Value::from(DEFAULT_HANDLER)))
                .description(Some(
                    "`handler.<function>`: the function of the module `code` becomes",
                ))
                .build()
                .into(),
        )
    }
}

impl ToSchema for DeployWithCode {}

impl PartialSchema for DeployWithFiles {
    fn schema() -> RefOr<Schema> {
        deploy(
            "A deploy whose source is a set of files; `requirements.txt` (python) or \
             `package.json` (node) among them is installed when the image is built.",
            ("files", files()),
            ("code", absent()),
            ObjectBuilder::new()
                .schema_type(or_null(Type::String))
                .pattern(Some(HANDLER))
                .default(Some(Value::from(DEFAULT_HANDLER)))
                .description(Some(
                    "`module.function`; `pkg.mod.handle` is `handle` of `pkg/mod.py` or \
                     `pkg/mod.js`, which must be among `files`",
                ))
                .build()
                .into(),
        )
    }
}

impl ToSchema for DeployWithFiles {}

impl PartialSchema for Undeploy {
    fn schema() -> RefOr<Schema> {
        // The parser reads nothing but `path` of an undeploy: the other fields of a deploy
        // may be there with any value; unknown ones are still refused.
        let mut body = ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(
                "Removes every instance and object of the callback; its definition and history \
                 stay. Other fields of a deploy may be present and are ignored.",
            ))
            .property("path", path())
            .property(
                "action",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(["undeploy"])),
            )
            .required("path")
            .required("action")
            .additional_properties(Some(closed()));
        for field in FIELDS.iter().filter(|f| !["path", "action"].contains(f)) {
            body = body.property(*field, anything());
        }
        body.build().into()
    }
}

impl ToSchema for Undeploy {}

/// A deploy with `source` given, `other` absent, and the settings.
fn deploy(
    description: &str,
    source: (&str, Schema),
    other: (&str, Schema),
    handler: Schema,
) -> RefOr<Schema> {
    let mut body = ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(description))
        .property("path", path())
        .property(
            "runtime",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(["python", "node"]))
                .description(Some("the language template")),
        )
        .property(source.0, source.1)
        .property(other.0, other.1)
        .property("handler", handler)
        .property(
            "backend",
            choice_or_null(
                &["docker", "kubernetes"],
                None,
                "where instances run; default: FAAS_BACKEND (docker unless configured)",
            ),
        )
        .property(
            "mode",
            choice_or_null(
                &["service", "job"],
                None,
                "warm instances (service) or one instance per call (job); default: FAAS_MODE \
                 (service unless configured)",
            ),
        )
        .property("env", env())
        .property("cpu", cpu())
        .property(
            "namespace",
            ObjectBuilder::new()
                .schema_type(or_null(Type::String))
                .pattern(Some(DNS_LABEL))
                .default(Some(Value::from(DEFAULT_NAMESPACE)))
                .description(Some(
                    "the owning namespace (an existing one); cannot change on redeploy",
                )),
        )
        .property(
            "action",
            choice_or_null(&["deploy"], Some("deploy"), "deploy (the default)"),
        )
        .required("path")
        .required("runtime")
        .required(source.0)
        .additional_properties(Some(closed()));
    for rule in INT_RULES {
        body = body.property(rule.field, setting(rule, setting_description(rule.field)));
    }
    body.build().into()
}

fn setting_description(field: &str) -> &'static str {
    match field {
        f if f == MEMORY_MB.field => "memory limit of an instance, in MB (no swap)",
        f if f == TIMEOUT_MS.field => {
            "how long one call may take, in ms, from its arrival (queueing and a cold start count)"
        }
        f if f == CONCURRENCY.field => {
            "calls in flight per instance; default 8 (python) or 64 (node)"
        }
        f if f == MIN_INSTANCES.field => "instances kept running when idle; at most max_instances",
        f if f == MAX_INSTANCES.field => "most instances at once",
        f if f == IDLE_TIMEOUT_S.field => {
            "an instance above min_instances idle this long, in seconds, is stopped"
        }
        f if f == KEEP_PAUSED_S.field => {
            "how long, in seconds, the last idle instance stays paused before it is stopped \
             (Docker; 0: never paused)"
        }
        _ => "",
    }
}

fn path() -> Schema {
    pattern(
        DNS_LABEL,
        "the callback's name, a DNS label; it is called on /api/<path>",
    )
    .build()
    .into()
}

fn code() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(DEFAULT_MAX_CODE_BYTES))
        .description(Some(
            "the handler module's text; at most FAAS_MAX_CODE_BYTES bytes of UTF-8 (1 MiB by \
             default)",
        ))
        .build()
        .into()
}

/// The other source field of a deploy: absent, or null.
fn absent() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::Null)
        .description(Some("give either code or files"))
        .build()
        .into()
}

fn files() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .min_properties(Some(1))
        .max_properties(Some(MAX_FILES))
        .property_names(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(MAX_FILE_NAME_CHARS))
                .pattern(Some(FILE_NAME)),
        ))
        .additional_properties(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .max_length(Some(DEFAULT_MAX_CODE_BYTES)),
        ))
        .description(Some(
            "relative path → text: 1 to 64 files, paths of 1 to 255 characters with `/` \
             between segments and no empty, `.` or `..` segment; all texts together at most \
             FAAS_MAX_CODE_BYTES bytes of UTF-8",
        ))
        .build()
        .into()
}

fn env() -> Schema {
    let name = ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(ENV_NAME))
        .build();
    let reserved = json!({ "pattern": format!("^{RESERVED_ENV_PREFIX}") });
    ObjectBuilder::new()
        .schema_type(or_null(Type::Object))
        .property_names(Some(but_not(name, reserved)))
        .additional_properties(Some(ObjectBuilder::new().schema_type(Type::String)))
        .default(Some(json!({})))
        .description(Some(
            "environment variables of the function; names starting FAAS_ are the gateway's",
        ))
        .build()
        .into()
}

fn cpu() -> Schema {
    ObjectBuilder::new()
        .schema_type(or_null(Type::Number))
        .minimum(Some(CPU.min))
        .maximum(Some(CPU.max))
        .default(Some(Value::from(CPU.default)))
        .description(Some("CPU cores of an instance"))
        .build()
        .into()
}
