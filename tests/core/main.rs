//! The gateway's core over HTTP without Docker: the real app on port 0 with a temporary
//! SQLite file, its backend and image builder in-memory stand-ins (`faas_gateway::testing`)
//! whose instances are HTTP servers in this process. Everything here runs anywhere `cargo
//! test` runs; what only real containers can show is in `tests/api`.

mod access;
mod asyncs;
mod deploys;
mod failures;
mod helpers;
mod metrics;
mod namespaces;
mod paused;
mod quotas;
mod validation;
