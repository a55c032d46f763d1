//! Integration tests: the real server over real HTTP, the real binary for the CLI.

#[path = "../common/mod.rs"]
mod common;

mod accounts;
mod answers;
mod architecture;
mod auth;
mod bridge;
mod cli;
mod clusters;
mod deploy;
mod durability;
mod errors;
mod gradebook;
mod grading;
mod lab_test;
mod labs;
mod live;
mod lti;
mod metrics;
mod module01;
mod ops;
mod pages;
mod progress;
mod replicas;
mod schema;
mod sso;
mod validation;
mod watch;
