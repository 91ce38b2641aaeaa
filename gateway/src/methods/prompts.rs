//! `prompts/get` and `completion/complete`: routed by prompt name or
//! resource template to the owning service. A prompt that needs the
//! client's input first (`input_rounds`) is answered `input_required` to a
//! 2026-07-28 client; for a 2025-11-25 session the gateway asks the client
//! on the request's stream and asks the service again.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use micromcp_proto::{
    CompleteRequest, GetPromptRequest, InputRequired, complete_request::Reference,
};
use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::input_rounds::{self, MAX_ROUNDS};
use super::result::{finish, finish_service_result};
use super::{outbound, route};
use crate::backends::{BackendClient, CallPermit, Target, from_status};
use crate::context::{CallContext, Reply};
use crate::error::GatewayError;
use crate::gateway::Gateway;
use crate::wire::jsonrpc::{encode_error, encode_result};
use crate::wire::protocol::ParamsHead;

pub(crate) async fn get_prompt(
    gateway: &Arc<Gateway>,
    context: &CallContext,
    id_text: &str,
    head: ParamsHead<'_>,
) -> Result<Reply, GatewayError> {
    let name = head.required_name()?;
    let arguments: HashMap<String, String> = match head.arguments {
        Some(raw) => serde_json::from_str(raw.get()).map_err(|_| {
            GatewayError::InvalidParams("params.arguments must map names to strings".into())
        })?,
        None => HashMap::new(),
    };
    let route = route::prompt(gateway, context, name)?;
    let service = route.service_name();
    let round_request = input_rounds::RoundRequest {
        service,
        method: "prompts/get",
        name,
        arguments: head.arguments.map(RawValue::get),
    };
    let input_round = input_rounds::retried_round(gateway, context, &head, &round_request)?;
    let (client, mut permit) = route.admit(gateway.config.request_timeout).await?;
    let first = GetPromptRequest {
        name: route.original().to_owned(),
        arguments,
        client_capabilities_json: Bytes::copy_from_slice(context.client_capabilities().as_bytes()),
        input_round,
    };
    let answered = route
        .retrying(|| {
            let mut client = client.clone();
            let request = outbound::request(
                gateway,
                context,
                route.readable_sources(),
                first.clone(),
                None,
            );
            async move { client.get_prompt(request).await }
        })
        .await
        .map_err(|status| from_status(service, &Target::Prompt, &status));
    permit.record(&answered);
    let response = answered?.into_inner();
    let Some(required) = response.input_required else {
        let body = finish_service_result(context, &response.result_json);
        return Ok(Reply::Json(encode_result(id_text, &body)));
    };
    if context.is_modern() {
        let body = input_rounds::required_result(gateway, context, &round_request, &required)?;
        return Ok(Reply::Json(encode_result(id_text, &body)));
    }
    // A session: ask the client on this request's stream, then again.
    let (to_client, messages) = mpsc::channel(16);
    let prompt = SessionRounds {
        gateway: gateway.clone(),
        context: context.clone(),
        service: service.to_owned(),
        backend: client,
        _permit: permit,
        readable_sources_opt: route.readable_sources().map(str::to_owned),
        first,
    };
    let id_text = id_text.to_owned();
    tokio::spawn(async move {
        let message = match prompt.finish(required, &to_client).await {
            Ok(body) => encode_result(&id_text, &body),
            Err(error) => encode_error(&id_text, &error),
        };
        let _ = to_client.send(message).await;
    });
    Ok(Reply::Events(messages))
}

/// A prompt that needs a 2025-11-25 session's input: what asking again takes.
struct SessionRounds {
    gateway: Arc<Gateway>,
    context: CallContext,
    service: String,
    backend: BackendClient,
    /// Holds the service's concurrency slot until the last round ends.
    _permit: CallPermit,
    readable_sources_opt: Option<String>,
    first: GetPromptRequest,
}

impl SessionRounds {
    /// Asks the client each round's input and the service again, until the
    /// prompt is complete (at most `MAX_ROUNDS` rounds); its result body.
    async fn finish(
        self,
        mut required: InputRequired,
        to_client: &mpsc::Sender<Vec<u8>>,
    ) -> Result<Vec<u8>, GatewayError> {
        let timeout = self.gateway.config.request_timeout;
        let deadline = Instant::now() + timeout;
        let never = CancellationToken::new();
        for _ in 0..MAX_ROUNDS {
            let round = input_rounds::ask_session(
                &self.gateway,
                &self.context,
                &self.service,
                required,
                to_client,
                &never,
                deadline,
            )
            .await?;
            let message = GetPromptRequest {
                input_round: Some(round),
                ..self.first.clone()
            };
            let request = outbound::request(
                &self.gateway,
                &self.context,
                self.readable_sources_opt.as_deref(),
                message,
                None,
            );
            let response = self
                .backend
                .clone()
                .get_prompt(request)
                .await
                .map_err(|status| from_status(&self.service, &Target::Prompt, &status))?
                .into_inner();
            match response.input_required {
                Some(again) => required = again,
                None => return Ok(finish_service_result(&self.context, &response.result_json)),
            }
        }
        Err(GatewayError::transient(
            &self.service,
            format!(
                "service {:?} still asked for input after {MAX_ROUNDS} rounds",
                self.service
            ),
        ))
    }
}

#[derive(Deserialize)]
struct CompleteParams {
    #[serde(rename = "ref")]
    reference: CompleteReference,
    argument: CompleteArgument,
    #[serde(default)]
    context: Option<CompleteContext>,
}

#[derive(Deserialize)]
#[serde(tag = "type")]
enum CompleteReference {
    #[serde(rename = "ref/prompt")]
    Prompt { name: String },
    #[serde(rename = "ref/resource")]
    Resource { uri: String },
}

#[derive(Deserialize)]
struct CompleteArgument {
    name: String,
    value: String,
}

#[derive(Deserialize)]
struct CompleteContext {
    #[serde(default)]
    arguments: HashMap<String, String>,
}

pub(crate) async fn complete(
    gateway: &Arc<Gateway>,
    context: &CallContext,
    id_text: &str,
    params: Option<&RawValue>,
) -> Result<Reply, GatewayError> {
    let raw = params.ok_or_else(|| GatewayError::InvalidParams("missing params".into()))?;
    let params: CompleteParams = serde_json::from_str(raw.get()).map_err(|error| {
        GatewayError::InvalidParams(format!("invalid completion params: {error}"))
    })?;
    let (route, reference) = match params.reference {
        CompleteReference::Prompt { name } => {
            let route = route::prompt(gateway, context, &name)?;
            let reference = Reference::PromptName(route.original().to_owned());
            (route, reference)
        }
        CompleteReference::Resource { uri } => {
            let route = route::template(gateway, context, &uri)?;
            (route, Reference::ResourceUri(uri))
        }
    };
    let empty = r#"{"completion":{"values":[],"hasMore":false}}"#;
    if !route.completes() {
        return Ok(Reply::Json(encode_result(
            id_text,
            finish(gateway, context, empty).as_bytes(),
        )));
    }
    let (client, mut permit) = route.admit(gateway.config.request_timeout).await?;
    let request = CompleteRequest {
        reference: Some(reference),
        argument_name: params.argument.name,
        argument_value: params.argument.value,
        context_arguments: params
            .context
            .map(|context| context.arguments)
            .unwrap_or_default(),
    };
    let answered = route
        .retrying(|| {
            let mut client = client.clone();
            let request = outbound::request(
                gateway,
                context,
                route.readable_sources(),
                request.clone(),
                None,
            );
            async move { client.complete(request).await }
        })
        .await
        .map_err(|status| from_status(route.service_name(), &Target::Completion, &status));
    permit.record(&answered);
    let response = answered?.into_inner();
    let mut completion =
        serde_json::json!({"values": response.values, "hasMore": response.has_more});
    if let Some(total) = response.total {
        completion["total"] = total.into();
    }
    let result = serde_json::json!({"completion": completion}).to_string();
    Ok(Reply::Json(encode_result(
        id_text,
        finish(gateway, context, &result).as_bytes(),
    )))
}
