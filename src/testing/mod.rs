//! In-memory stand-ins for the outside world, for tests: an image builder that builds
//! nothing, and (`executor`) a backend whose instances are HTTP servers in this process; and
//! whether the tests that need a real Docker daemon can run (`docker`).
//! Compiled for this crate's own tests and with the `test-util` feature.

mod builder;
mod docker;
mod executor;
mod instance;

pub use builder::FakeBuilder;
pub use docker::{docker_available, docker_required};
pub use executor::FakeExecutor;
