//! `micromcp grpc-service`: an existing gRPC service (the target) as a
//! micro-service whose tools are its methods, read through server
//! reflection or from a descriptor set. Run next to `micromcp gateway`
//! (give its `--listen`/`--socket` as a `[[services]]` endpoint), or let
//! `micromcp up` run it for a `[[services]] kind = "grpc"` entry.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use micromcp_grpc::{ForwardedMetadata, GrpcSettings, GrpcTranslator};
use micromcp_proto::quic::ClientTls;

/// Flags of `micromcp grpc-service`.
#[derive(clap::Args)]
pub struct GrpcArgs {
    /// Name of the service (logs).
    #[arg(long, default_value = "grpc")]
    name: String,
    /// The gRPC service to offer: `http://host:port` or `https://host:port`.
    #[arg(long)]
    target: String,
    /// A FileDescriptorSet file (`protoc --descriptor_set_out
    /// --include_imports`) to use instead of server reflection.
    #[arg(long)]
    descriptor_set: Option<PathBuf>,
    /// Offer only the methods matching this glob over
    /// `package.Service/Method` (repeatable; default: all).
    #[arg(long = "allow")]
    allow: Vec<String>,
    /// Never offer the methods matching this glob (repeatable; wins over --allow).
    #[arg(long = "deny")]
    deny: Vec<String>,
    /// Deadline of each call to the target, in milliseconds.
    #[arg(long, default_value_t = 30_000)]
    deadline_ms: u64,
    /// Metadata attached to each call (repeatable): `x-request-id`,
    /// `x-micromcp-principal`, `authorization` (the caller's exchanged token).
    #[arg(long = "forward-metadata")]
    forward_metadata: Vec<String>,
    /// Read reflection again this often, in seconds, and follow changes (0: never).
    #[arg(long, default_value_t = 60)]
    refresh_secs: u64,
    /// `https://` targets: PEM CA the target's certificate must chain to.
    #[arg(long)]
    tls_ca: Option<PathBuf>,
    /// `https://` targets: name the certificate must carry (default: the host).
    #[arg(long, requires = "tls_ca")]
    tls_server_name: Option<String>,
    /// `https://` targets: client certificate for targets requiring mTLS.
    #[arg(long, requires_all = ["tls_ca", "tls_client_key"])]
    tls_client_cert: Option<PathBuf>,
    /// Key of --tls-client-cert.
    #[arg(long, requires = "tls_client_cert")]
    tls_client_key: Option<PathBuf>,
    #[command(flatten)]
    listen: crate::serve::ServiceListen,
}

/// Validates the flags, reads the descriptors, serves.
pub async fn run(args: GrpcArgs) -> anyhow::Result<()> {
    let target: http::Uri = args
        .target
        .parse()
        .with_context(|| format!("--target {:?}", args.target))?;
    let tls_opt = match args.tls_ca {
        None => None,
        Some(ca_file) => Some(ClientTls {
            ca_file,
            server_name: match args.tls_server_name {
                Some(name) => name,
                None => target.host().unwrap_or_default().to_owned(),
            },
            identity: args.tls_client_cert.zip(args.tls_client_key),
        }),
    };
    let forward_metadata = args
        .forward_metadata
        .iter()
        .map(|name| ForwardedMetadata::parse(name))
        .collect::<Result<Vec<_>, _>>()?;
    let settings = GrpcSettings {
        target,
        descriptor_set_opt: args.descriptor_set,
        allow: args.allow,
        deny: args.deny,
        deadline: Duration::from_millis(args.deadline_ms),
        forward_metadata,
        tls_opt,
        refresh_opt: (args.refresh_secs > 0).then(|| Duration::from_secs(args.refresh_secs)),
    };
    let translator = GrpcTranslator::new(settings)?;
    let _refresh = translator.start();
    crate::serve::serve(translator, args.listen, &args.name).await
}
