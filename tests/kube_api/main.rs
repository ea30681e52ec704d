//! The Kubernetes executor over real HTTP, against an emulated API server (`emu/`) that
//! speaks the wire protocol of the endpoints the executor uses and answers with objects
//! shaped exactly like those captured on a real cluster (`fixtures/`). Pods "listen" on
//! 127.0.0.1, where a stand-in runtime answers `/_/health`.

mod access;
mod emu;
mod failures;
mod gateway;
mod instances;
mod jobs;
mod support;
