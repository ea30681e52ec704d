//! The command line end to end: the real binary against a real gateway (Docker), and against a
//! stand-in gateway for what needs no Docker.

mod commands;
mod helpers;
mod namespaces;
mod offline;
