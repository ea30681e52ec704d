//! The Kubernetes executor over real HTTP, against an emulated API server (`emu/`) that
//! speaks the wire protocol of the endpoints the executor uses and answers with objects
//! shaped exactly like those captured on a real cluster (`fixtures/`). Each pod has its own
//! loopback address, where a stand-in runtime answers while its container runs.

mod access;
mod contract;
mod emu;
mod failures;
mod gateway;
mod instances;
mod jobs;
mod pool;
mod support;
