//! In-memory stand-ins for the outside world, for tests: an image builder that builds
//! nothing, and (`executor`) a backend whose instances are HTTP servers in this process.
//! Compiled for this crate's own tests and with the `test-util` feature.

mod builder;
mod executor;
mod instance;

pub use builder::FakeBuilder;
pub use executor::FakeExecutor;
