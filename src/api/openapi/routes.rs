//! What the router adds around the handlers, said in the document: the invoke route's three
//! shapes, the dashboard's files, the tokens guarding route groups, the headers every answer
//! or some statuses carry, links from what creates a resource to what reads it, and one
//! operation id per operation.

use std::collections::BTreeMap;

use utoipa::Modify;
use utoipa::openapi::content::{Content, ContentBuilder};
use utoipa::openapi::link::LinkBuilder;
use utoipa::openapi::path::{Operation, ParameterBuilder, ParameterIn, PathItem};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{Object, ObjectBuilder, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{OpenApi, Ref, RefOr, Required, Response};

use super::kit::{add_header, header, text};
use crate::model::deploy_rules::DNS_LABEL;

/// Every method of a path item with its operation.
fn operations(item: &mut PathItem) -> Vec<(&'static str, &mut Operation)> {
    [
        ("get", item.get.as_mut()),
        ("put", item.put.as_mut()),
        ("post", item.post.as_mut()),
        ("delete", item.delete.as_mut()),
        ("options", item.options.as_mut()),
        ("head", item.head.as_mut()),
        ("patch", item.patch.as_mut()),
        ("trace", item.trace.as_mut()),
    ]
    .into_iter()
    .filter_map(|(method, op)| op.map(|op| (method, op)))
    .collect()
}

/// Every operation of the document with its path and method.
fn each_operation(doc: &mut OpenApi, mut f: impl FnMut(&str, &str, &mut Operation)) {
    for (path, item) in doc.paths.paths.iter_mut() {
        for (method, op) in operations(item) {
            f(path, method, op);
        }
    }
}

fn error_response(description: &str) -> RefOr<Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorEnvelope")))
                .build(),
        )
        .build()
        .into()
}

/// The invoke route as the router has it: `/api/{path}`, `/api/{path}/` and
/// `/api/{path}/{rest}`, every method of the document (the handler takes any).
pub struct Invoke;

/// The annotated shape, whose `rest` the others lack.
const INVOKE_REST: &str = "/api/{path}/{rest}";

impl Modify for Invoke {
    fn modify(&self, doc: &mut OpenApi) {
        let Some(with_rest) = doc.paths.paths.get_mut(INVOKE_REST) else {
            return;
        };
        // Any body of any type, or none: the function decides what it takes, so no body is
        // invalid here.
        let body = RequestBodyBuilder::new()
            .description(Some(
                "any body, or none, passed to the function unchanged (streamed); at most \
                 FAAS_MAX_BODY_BYTES (6 MiB by default)",
            ))
            .content("*/*", Content::default())
            .required(Some(Required::False))
            .build();
        for (_, op) in operations(with_rest) {
            op.request_body = Some(RefOr::T(body.clone()));
        }
        let with_rest = with_rest.clone();
        for (shape, suffix) in [("/api/{path}", "bare"), ("/api/{path}/", "slash")] {
            let mut item = with_rest.clone();
            for (_, op) in operations(&mut item) {
                if let Some(params) = op.parameters.as_mut() {
                    params.retain(|p| !matches!(p, RefOr::T(p) if p.name == "rest"));
                }
                op.operation_id = op.operation_id.take().map(|id| format!("{id}_{suffix}"));
            }
            doc.paths.paths.insert(shape.to_owned(), item);
        }
    }
}

/// The dashboard's page and files (`GET`, and `HEAD` as for every `GET`), open to everyone.
pub struct Dashboard;

/// What the dashboard's files are served as.
const DASHBOARD_MEDIA_TYPES: [&str; 9] = [
    "text/html",
    "text/css",
    "text/javascript",
    "application/json",
    "image/svg+xml",
    "image/png",
    "image/x-icon",
    "font/woff2",
    "application/octet-stream",
];

impl Dashboard {
    fn operation(id: &str, summary: &str, file: bool) -> Operation {
        let mut ok = ResponseBuilder::new().description("the file");
        for media_type in if file {
            &DASHBOARD_MEDIA_TYPES[..]
        } else {
            &DASHBOARD_MEDIA_TYPES[..1]
        } {
            ok = ok.content(
                *media_type,
                ContentBuilder::new()
                    .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                    .build(),
            );
        }
        let mut ok: RefOr<Response> = ok.build().into();
        let mut not_modified: RefOr<Response> = ResponseBuilder::new()
            .description("If-None-Match named the file's current ETag")
            .build()
            .into();
        for response in [&mut ok, &mut not_modified] {
            add_header(
                response,
                "ETag",
                header(text(), true, "a strong validator of the file's content"),
            );
            add_header(
                response,
                "Cache-Control",
                header(enumerated(&["no-cache"]), true, "revalidate every time"),
            );
        }
        let mut op = Operation::new();
        op.operation_id = Some(id.to_owned());
        op.summary = Some(summary.to_owned());
        op.tags = Some(vec!["operations".to_owned()]);
        let mut params = vec![RefOr::T(
            ParameterBuilder::new()
                .name("If-None-Match")
                .parameter_in(ParameterIn::Header)
                .required(Required::False)
                .description(Some("ETags the client holds; the current one answers 304"))
                .schema(Some(text()))
                .build(),
        )];
        if file {
            params.push(RefOr::T(
                ParameterBuilder::new()
                    .name("file")
                    .parameter_in(ParameterIn::Path)
                    .required(Required::True)
                    .description(Some("a file of the dashboard, e.g. style.css or js/app.js"))
                    .schema(Some(text()))
                    .build(),
            ));
        }
        op.parameters = Some(params);
        let responses = &mut op.responses.responses;
        responses.insert("200".into(), ok);
        responses.insert("304".into(), not_modified);
        if file {
            responses.insert(
                "404".into(),
                error_response("ROUTE_NOT_FOUND: the dashboard has no such file"),
            );
        }
        op
    }
}

impl Modify for Dashboard {
    fn modify(&self, doc: &mut OpenApi) {
        for (path, id, file) in [
            ("/ui", "dashboard", false),
            ("/ui/", "dashboard_slash", false),
            ("/ui/{file}", "dashboard_file", true),
        ] {
            let summary = if file {
                "One of the dashboard's files."
            } else {
                "The web dashboard's page."
            };
            let mut item = PathItem::default();
            item.get = Some(Self::operation(id, summary, file));
            item.head = Some(Self::operation(&format!("{id}_head"), summary, file));
            doc.paths.paths.insert(path.to_owned(), item);
        }
    }
}

fn enumerated(values: &[&str]) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values.iter().copied()))
        .build()
}

/// The bearer tokens of the route groups, as the router layers them: the admin token on the
/// management routes, the invoke token on `/api/`; a missing or wrong one answers 401.
pub struct Guards;

/// Path prefixes and the security scheme guarding them.
const GUARDED: [(&str, &str); 5] = [
    ("/callback/", "admin"),
    ("/callbacks", "admin"),
    ("/invocations/", "admin"),
    ("/namespaces", "admin"),
    ("/api/", "invoke"),
];

impl Modify for Guards {
    fn modify(&self, doc: &mut OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        for (name, description) in [
            (
                "admin",
                "FAAS_ADMIN_TOKEN, or a namespace's admin token (its own callbacks and \
                 invocations only); required when FAAS_ADMIN_TOKEN is set",
            ),
            (
                "invoke",
                "FAAS_INVOKE_TOKEN, or a namespace's token (its own callbacks only); required \
                 when FAAS_INVOKE_TOKEN is set",
            ),
        ] {
            components.security_schemes.insert(
                name.to_owned(),
                RefOr::T(SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .description(Some(description))
                        .build(),
                )),
            );
        }
        each_operation(doc, |path, _, op| {
            let Some((_, scheme)) = GUARDED.iter().find(|(p, _)| path.starts_with(p)) else {
                return;
            };
            op.security = Some(vec![SecurityRequirement::new(
                *scheme,
                Vec::<String>::new(),
            )]);
            op.responses
                .responses
                .entry("401".into())
                .or_insert_with(|| error_response("UNAUTHORIZED: the token is missing or wrong"));
        });
    }
}

/// Headers the gateway puts on answers: `X-Request-Id` on every one, `Retry-After` on a full
/// queue and where a wait helps, `Location` on an accepted asynchronous call, and the call's
/// facts on a function's answer.
pub struct Headers;

impl Modify for Headers {
    fn modify(&self, doc: &mut OpenApi) {
        each_operation(doc, |path, _, op| {
            let invoke = path.starts_with("/api/");
            let deploy = path == "/callback/deploy";
            for (status, response) in op.responses.responses.iter_mut() {
                add_header(
                    response,
                    "X-Request-Id",
                    header(
                        text(),
                        true,
                        "the request's id: the client's own X-Request-Id when it sent a \
                         printable one of at most 128 characters, else a new one",
                    ),
                );
                match status.as_str() {
                    "429" => add_header(
                        response,
                        "Retry-After",
                        header(seconds(), true, "seconds to wait before calling again"),
                    ),
                    "503" if invoke || deploy => add_header(
                        response,
                        "Retry-After",
                        header(
                            seconds(),
                            false,
                            "seconds to wait: set with FUNCTION_CRASH_LOOP and \
                             INSUFFICIENT_CAPACITY",
                        ),
                    ),
                    "202" if invoke => add_header(
                        response,
                        "Location",
                        header(
                            text(),
                            true,
                            "/invocations/{id}, where the invocation is read",
                        ),
                    ),
                    "default" if invoke => function_headers(response),
                    "500" if invoke => add_header(
                        response,
                        "X-Faas-Error",
                        header(
                            enumerated(&["FUNCTION_ERROR"]),
                            false,
                            "set by the runtime on an unhandled exception in the handler",
                        ),
                    ),
                    _ => {}
                }
            }
        });
    }
}

fn seconds() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(0))
        .build()
}

/// The facts of a call on the function's own answer.
fn function_headers(response: &mut RefOr<Response>) {
    add_header(
        response,
        "X-Faas-Revision",
        header(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(1))
                .build(),
            true,
            "the revision that answered",
        ),
    );
    add_header(
        response,
        "X-Faas-Cold-Start",
        header(
            enumerated(&["true", "false"]),
            true,
            "true when the call waited for a new instance to start (always in job mode)",
        ),
    );
    add_header(
        response,
        "X-Faas-Resumed",
        header(
            enumerated(&["true"]),
            false,
            "present when the call waited for a paused instance to resume",
        ),
    );
}

/// Links from what creates a resource to what reads, changes or removes it, so stateful
/// tests and readers follow a deploy to its callback and a namespace to its routes.
pub struct Links;

impl Modify for Links {
    fn modify(&self, doc: &mut OpenApi) {
        let callback = [
            ("get_callback", BTreeMap::new()),
            ("list_revisions", BTreeMap::new()),
            // Following a log forever is not a request that ends.
            ("read_logs", BTreeMap::from([("follow", "false")])),
            ("delete_callback", BTreeMap::new()),
            ("invoke", BTreeMap::new()),
        ];
        let namespace = [
            ("get_namespace", BTreeMap::new()),
            ("patch_namespace", BTreeMap::new()),
            ("rotate_tokens", BTreeMap::new()),
            ("delete_namespace", BTreeMap::new()),
        ];
        let invocation = [("get_invocation", BTreeMap::new())];
        each_operation(doc, |_, _, op| {
            let (targets, param, pointer): (&[_], _, _) = match op.operation_id.as_deref() {
                Some("deploy") => (&callback, "path", "/path"),
                Some("create_namespace") => (&namespace, "name", "/name"),
                Some(id) if id.starts_with("invoke") => (&invocation, "id", "/id"),
                _ => return,
            };
            for (status, response) in op.responses.responses.iter_mut() {
                let RefOr::T(response) = response else {
                    continue;
                };
                if !status.starts_with('2') || response.content.is_empty() {
                    continue;
                }
                for (target, fixed) in targets {
                    let mut link = LinkBuilder::new()
                        .operation_id(*target)
                        .parameter(param, format!("$response.body#{pointer}"));
                    for (name, value) in fixed {
                        link = link.parameter(*name, *value);
                    }
                    response
                        .links
                        .insert((*target).to_owned(), link.build().into());
                }
            }
        });
    }
}

/// Callbacks and namespaces are named by DNS labels, in paths as in bodies.
pub struct Names;

impl Modify for Names {
    fn modify(&self, doc: &mut OpenApi) {
        each_operation(doc, |_, _, op| {
            for param in op.parameters.iter_mut().flatten() {
                if let RefOr::T(param) = param
                    && param.parameter_in == ParameterIn::Path
                    && (param.name == "path" || param.name == "name")
                {
                    param.schema = Some(
                        ObjectBuilder::new()
                            .schema_type(Type::String)
                            .pattern(Some(DNS_LABEL))
                            .into(),
                    );
                }
            }
        });
    }
}

/// One operation id per operation: where a handler serves several methods or shapes, the
/// first `GET` (or first method) keeps the handler's id and the others add their method.
pub struct OperationIds;

impl Modify for OperationIds {
    fn modify(&self, doc: &mut OpenApi) {
        let mut seen = std::collections::BTreeSet::new();
        each_operation(doc, |_, method, op| {
            let Some(id) = op.operation_id.clone() else {
                return;
            };
            if !seen.insert(id.clone()) {
                let unique = format!("{id}_{method}");
                seen.insert(unique.clone());
                op.operation_id = Some(unique);
            }
        });
    }
}
