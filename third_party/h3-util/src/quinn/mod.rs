mod server;
pub use server::H3QuinnAcceptor;
mod client;
pub use client::H3QuinnConnector;

pub use h3_quinn;
