//! The gateway's vocabulary: callbacks, their definitions and the contract's error codes.

mod callback;
pub mod deploy_rules;
mod error_code;
mod invocation;
mod namespace;
mod runtime;
mod spec;

pub use callback::{
    CallbackRecord, CallbackState, CallbackView, InstanceState, InstanceView, LastError, Revision,
};
pub use error_code::ErrorCode;
pub use invocation::{
    BodyEncoding, Invocation, InvocationFailure, InvocationStatus, StoredBody, StoredRequest,
    StoredResponse,
};
pub use namespace::{
    DEFAULT_NAMESPACE, MAX_QUOTA, NAME_RULE, NamespaceBodyError, NamespaceCreated, NamespaceTokens,
    NamespaceView, NewNamespace, Quota, QuotaExceeded, QuotaField, Scope, Usage, fits,
    parse_new_namespace, patch_quota, valid_namespace_name,
};
pub use runtime::{Backend, Mode, Runtime};
pub use spec::{
    CallbackSpec, DeployAction, FieldErrors, Files, SpecDefaults, SpecError, parse_deploy,
};
