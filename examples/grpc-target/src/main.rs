//! `grpc-target`: an inventory service on tonic with server reflection (v1
//! and v1alpha, from tonic-reflection), standing for an existing gRPC
//! service that was never written for MCP. Listens on `--listen`
//! (default 127.0.0.1:0) and prints `grpc-target on ADDRESS` once serving.

use std::pin::Pin;

use tokio_stream::Stream;
use tonic::{Request, Response, Status};

mod pb {
    tonic::include_proto!("inventory.v1");
}

use pb::inventory_server::{Inventory, InventoryServer};
use pb::{GetItemRequest, Item, WatchRequest};

const DESCRIPTORS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/inventory_descriptor.bin"));

/// The largest stream a caller may ask for.
const MAX_UPDATES: u32 = 1000;

struct Warehouse;

fn item(sku: &str, quantity: u64) -> Item {
    Item {
        sku: sku.to_owned(),
        name: format!("Item {sku}"),
        quantity,
        updated: Some(prost_types::Timestamp {
            seconds: 1_700_000_000,
            nanos: 0,
        }),
    }
}

#[tonic::async_trait]
impl Inventory for Warehouse {
    async fn get_item(&self, request: Request<GetItemRequest>) -> Result<Response<Item>, Status> {
        let sku = request.into_inner().sku;
        if !sku.starts_with("A-") {
            return Err(Status::not_found(format!("no item {sku}")));
        }
        Ok(Response::new(item(&sku, 42)))
    }

    async fn restock(&self, request: Request<Item>) -> Result<Response<Item>, Status> {
        let asked = request.into_inner();
        Ok(Response::new(item(&asked.sku, asked.quantity)))
    }

    type WatchItemStream = Pin<Box<dyn Stream<Item = Result<Item, Status>> + Send>>;

    async fn watch_item(
        &self,
        request: Request<WatchRequest>,
    ) -> Result<Response<Self::WatchItemStream>, Status> {
        let updates = request.into_inner().updates.min(MAX_UPDATES);
        let items: Vec<Result<Item, Status>> = (1..=updates)
            .map(|update| Ok(item("A-1", u64::from(update))))
            .collect();
        Ok(Response::new(Box::pin(tokio_stream::iter(items))))
    }
}

const USAGE: &str = "usage: grpc-target [--listen ADDRESS]";

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Serves until the process ends; a mistake is one line naming the flag.
async fn run() -> Result<(), String> {
    let mut listen = "127.0.0.1:0".to_owned();
    let mut arguments = std::env::args().skip(1);
    while let Some(argument) = arguments.next() {
        match (argument.as_str(), arguments.next()) {
            ("--listen", Some(address)) => listen = address,
            ("--listen", None) => return Err(format!("--listen needs an address ({USAGE})")),
            _ => return Err(format!("unknown argument {argument:?} ({USAGE})")),
        }
    }
    let address: std::net::SocketAddr = listen
        .parse()
        .map_err(|error| format!("--listen {listen:?}: {error} (e.g. 127.0.0.1:50051)"))?;
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(|error| format!("--listen {address}: {error}"))?;
    let address = listener
        .local_addr()
        .map_err(|error| format!("--listen {address}: {error}"))?;
    let reflection = |error: tonic_reflection::server::Error| format!("reflection: {error}");
    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(DESCRIPTORS)
        .build_v1()
        .map_err(reflection)?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(DESCRIPTORS)
        .build_v1alpha()
        .map_err(reflection)?;
    println!("grpc-target on {address}");
    tonic::transport::Server::builder()
        .add_service(InventoryServer::new(Warehouse))
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
        .await
        .map_err(|error| format!("serving: {error}"))
}
