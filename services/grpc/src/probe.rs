//! `probe`: what `micromcp check` says about a `kind = "grpc"` entry — the
//! tools the translator would offer (after allow/deny), read once within
//! the entry's deadline, or precisely why it cannot: the target unreachable
//! or silent, server reflection off with no `descriptor_set`, or TLS on one
//! side only. With a `descriptor_set` the tools come from the file and the
//! target is still contacted, once, to show it answers.

use std::collections::BTreeSet;

use tonic::Code;

use crate::channel::channel_to;
use crate::methods::{Methods, methods_of};
use crate::{GrpcError, GrpcResult, GrpcSettings, reflect, translator};

/// The tool names (the method's `Service.Method`, without the entry's
/// namespace) `settings` would offer now, sorted, or why none can be read.
pub async fn probe(settings: &GrpcSettings) -> GrpcResult<Vec<String>> {
    let filter = settings.validate()?;
    let target = settings.target.to_string();
    let channel = channel_to(&settings.target, settings.tls_opt.as_ref())?;
    let silent = || GrpcError::Connect {
        target: target.clone(),
        detail: format!(
            "the target is silent: no answer within the deadline of {} ms (deadline_ms)",
            settings.deadline.as_millis()
        ),
    };
    if let Some(path) = &settings.descriptor_set_opt {
        let pool = translator::read_descriptor_set(path)?;
        let asked = reflect::list_services(channel, &target);
        match tokio::time::timeout(settings.deadline, asked).await {
            Err(_) => return Err(silent()),
            // Any answer of the gRPC server itself (reflection off is
            // `Unimplemented`) shows it is there and speaks gRPC.
            Ok(Err(status)) if !answered(status.code()) => {
                return Err(explained(
                    settings,
                    GrpcError::Reflection {
                        target,
                        detail: reflect::status_detail(&status),
                    },
                ));
            }
            Ok(_) => {}
        }
        return Ok(names(&methods_of(&pool, None, &filter)));
    }
    let read = reflect::read_pool(channel, &target);
    match tokio::time::timeout(settings.deadline, read).await {
        Ok(Ok((pool, listed))) => Ok(names(&methods_of(&pool, Some(&listed), &filter))),
        Ok(Err(error)) => Err(explained(settings, error)),
        Err(_) => Err(silent()),
    }
}

/// True for a status only a gRPC server sends (not one tonic makes up when
/// the connection fails).
fn answered(code: Code) -> bool {
    !matches!(
        code,
        Code::Unavailable
            | Code::Unknown
            | Code::Internal
            | Code::DeadlineExceeded
            | Code::Cancelled
    )
}

fn names(methods: &Methods) -> Vec<String> {
    let sorted: BTreeSet<&String> = methods.by_tool.keys().collect();
    sorted.into_iter().cloned().collect()
}

/// `error` with what it most likely means for this entry.
fn explained(settings: &GrpcSettings, error: GrpcError) -> GrpcError {
    let GrpcError::Reflection { target, detail } = error else {
        return error;
    };
    let https = settings.target.scheme_str() == Some("https");
    let lower = detail.to_ascii_lowercase();
    let says = |words: &[&str]| words.iter().any(|word| lower.contains(word));
    let hint = if detail.starts_with("Unimplemented") {
        "server reflection is off on the target: turn it on there, or give descriptor_set"
    } else if says(&[
        "connection refused",
        "tcp connect error",
        "dns error",
        "failed to lookup",
        "no route to host",
        "network is unreachable",
    ]) {
        "the target is unreachable: is it running, and is the address right?"
    } else if !https
        && says(&[
            "h2 protocol error",
            "frame with invalid size",
            "connection reset",
            "broken pipe",
            "unexpected eof",
        ])
    {
        "the target may speak TLS: give an https:// target (with tls_ca)"
    } else if https
        && says(&[
            "certificate required",
            "connection closed",
            // TLS 1.3: a refused client shows on the first read, not
            // in the handshake.
            "peer closed connection",
            "close_notify",
            "canceled",
            "cancelled",
            "connection reset",
            "broken pipe",
        ])
    {
        "the target closed the TLS connection: does it want a client certificate (tls_client_cert, tls_client_key) this entry does not give, or refuse the one it gives?"
    } else if https && says(&["tls", "certificate", "corrupt", "handshake"]) {
        "TLS failed: does the target speak TLS, and does its certificate chain to tls_ca and name the host (tls_server_name)?"
    } else {
        ""
    };
    let detail = if hint.is_empty() {
        detail
    } else {
        format!("{hint} ({detail})")
    };
    GrpcError::Reflection { target, detail }
}
