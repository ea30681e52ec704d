//! The OpenAPI document, generated from the handlers' annotations.

use utoipa::OpenApi;

use super::{callbacks, deploy, error, invocations, invoke, namespaces, ops};
use crate::executor::{LogLine, LogStream};
use crate::model::{
    Backend, CallbackState, CallbackView, ErrorCode, InstanceState, InstanceView, Invocation,
    InvocationStatus, LastError, Mode, NamespaceCreated, NamespaceTokens, NamespaceView, Quota,
    Revision, Runtime, StoredResponse, Usage,
};

/// The gateway's API.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "faas-gateway",
        description = "Deploy functions over HTTP and call them on /api/<path>."
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
        ops::Health,
        ops::Readiness,
        ops::Check,
        Invocation,
        InvocationStatus,
        StoredResponse,
        NamespaceView,
        NamespaceCreated,
        NamespaceTokens,
        Quota,
        Usage,
        namespaces::NamespaceList,
    ))
)]
pub struct ApiDoc;
