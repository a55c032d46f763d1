//! The subcommands, one file each; `main` parses the command line and calls `execute`.

pub mod backup;
pub mod lab;
pub mod serve;
pub mod user;
pub mod validate;
