//! The OpenAPI document, generated from the handlers' annotations and completed by modifiers
//! with what the router adds around them (`routes`). It is exact: what it calls a valid
//! request is accepted, what it calls invalid is refused, and every answer is declared —
//! `tests/openapi.rs` holds the gateway to it.

mod bodies;
mod deploy_body;
mod kit;
mod routes;

use utoipa::OpenApi;

use super::{callbacks, deploy, error, invocations, invoke, namespaces, ops};
use crate::executor::{LogLine, LogStream};
use crate::model::{
    Backend, BodyEncoding, CallbackState, CallbackView, ErrorCode, InstanceState, InstanceView,
    Invocation, InvocationFailure, InvocationStatus, LastError, Mode, NamespaceCreated,
    NamespaceTokens, NamespaceView, Quota, Revision, Runtime, StoredBody, StoredResponse, Usage,
};
pub use bodies::{
    FunctionError, FunctionErrorOrEnvelope, Health, InvokeAccepted, NewNamespace, QuotaLimits,
    QuotaPatch, Readiness, ReadinessCheck, Switch,
};
pub use deploy_body::{DeployBody, DeployWithCode, DeployWithFiles, Undeploy};
use routes::{Dashboard, Guards, Headers, Invoke, Links, Names, OperationIds};

/// The gateway's API.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "faas-gateway",
        description = "Deploy functions over HTTP and call them on /api/<path>. Every answer \
                       carries X-Request-Id; every error made by the gateway is the error \
                       envelope. A path that is no route answers 404 ROUTE_NOT_FOUND; a route \
                       asked with a method it does not have answers 405 METHOD_NOT_ALLOWED \
                       with an Allow header. Every GET route also answers HEAD."
    ),
    paths(
        deploy::deploy,
        callbacks::list,
        callbacks::get,
        callbacks::revisions,
        callbacks::logs,
        callbacks::delete,
        invocations::get,
        invoke::invoke,
        namespaces::create,
        namespaces::list,
        namespaces::get,
        namespaces::patch,
        namespaces::rotate,
        namespaces::delete,
        ops::health,
        ops::ready,
        ops::metrics,
        ops::openapi,
    ),
    components(schemas(
        DeployBody,
        DeployWithCode,
        DeployWithFiles,
        Undeploy,
        CallbackView,
        CallbackState,
        InstanceView,
        InstanceState,
        LastError,
        Revision,
        Runtime,
        Backend,
        Mode,
        ErrorCode,
        LogLine,
        LogStream,
        error::ErrorEnvelope,
        error::ErrorBody,
        callbacks::CallbackList,
        callbacks::RevisionList,
        callbacks::LogList,
        Health,
        Readiness,
        ReadinessCheck,
        Switch,
        Invocation,
        InvocationStatus,
        InvokeAccepted,
        FunctionError,
        InvocationFailure,
        StoredResponse,
        StoredBody,
        BodyEncoding,
        NamespaceView,
        NamespaceCreated,
        NamespaceTokens,
        NewNamespace,
        QuotaPatch,
        QuotaLimits,
        Quota,
        Usage,
        namespaces::NamespaceList,
    )),
    modifiers(&Invoke, &Dashboard, &Names, &Guards, &Headers, &OperationIds, &Links)
)]
pub struct ApiDoc;

#[cfg(test)]
mod tests;
