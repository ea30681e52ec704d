//! Integration tests: the real gateway over HTTP, real Docker containers from real images.

mod daemon;
mod deploy;
mod failures;
mod helpers;
mod invoke;
mod jobs;
mod lifecycle;
mod namespaces;
mod paused;
mod process;
mod production;
mod registry;
