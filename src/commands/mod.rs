//! The sub-commands, one file per command or command group, above the
//! helper modules of the crate root: a command may use any helper, a helper
//! never uses a command (gateway/tests/layers.rs checks it).

pub mod bridge;
pub mod check;
pub mod gateway;
pub mod grpc_service;
pub mod registry;
pub mod services;
pub mod stdio;
pub mod tls_cert;
pub mod tools;
pub mod up;
