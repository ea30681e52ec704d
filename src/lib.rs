//! faas-gateway: deploy a function's source over HTTP, call it on `/api/<path>`.
//!
//! The request path: `api` resolves the callback in the in-memory `pool::registry`, the
//! `invoker` acquires a slot on a warm instance from its revision's `pool` (queueing, or
//! starting an instance through the `executor`), streams the request to the instance's runtime
//! and the response back, and releases the slot when the body ends. The deploy path: `api`
//! validates the body into a `model::CallbackSpec`, the `deployer` records it in the `store`,
//! builds (or reuses) a content-addressed image with the `builder`, starts the new revision's
//! pool, commits the revision, switches the route and drains the old revision.

pub mod api;
pub mod app;
pub mod builder;
pub mod config;
pub mod deployer;
pub mod executor;
pub mod invocations;
pub mod invoker;
pub mod metrics;
pub mod model;
pub mod pool;
pub mod store;
pub mod telemetry;
