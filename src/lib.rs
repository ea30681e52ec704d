//! faas-gateway: deploy a function's source over HTTP, call it on `/api/<path>`.
//!
//! The request path: `api` resolves the callback in the in-memory `routes` table, the `proxy`
//! acquires a slot on a warm instance from its revision's `pool` (queueing, or starting an
//! instance through the `launcher` and the `executor`) — or, in job mode, runs the call in a
//! fresh instance (`jobs`) — streams the request to the instance's runtime and the response
//! back, and releases the slot when the body ends. The deploy path: `api` validates the body
//! into a `model::CallbackSpec`, the `deployer` records it in the `store`, builds (or reuses)
//! a content-addressed image with the `builder`, starts the new revision, commits it, switches
//! the route and drains the old revision. `queries` answer the read side; `supervise` keeps
//! the pools true to what the backends report.

pub mod api;
pub mod app;
pub mod builder;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod deployer;
pub mod executor;
pub mod failure;
pub mod invocations;
pub mod jobs;
pub mod keyed_locks;
pub mod launcher;
pub mod metrics;
pub mod model;
pub mod namespaces;
pub mod pool;
pub mod proxy;
pub mod queries;
pub mod routes;
pub mod store;
pub mod supervise;
pub mod telemetry;
#[cfg(any(test, feature = "test-util"))]
pub mod testing;
pub mod tls;
pub mod upstream;
