pub mod client;
pub mod server;

pub use msquic_h3;
