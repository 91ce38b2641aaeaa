//! `prompts/get` and `completion/complete`: routed by prompt name or
//! resource template to the owning service.

use std::collections::HashMap;
use std::sync::Arc;

use micromcp_proto::{CompleteRequest, GetPromptRequest, complete_request::Reference};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::result::{finish, finish_service_result};
use super::{outbound, route};
use crate::backends::{Target, from_status};
use crate::context::{CallContext, Reply};
use crate::error::GatewayError;
use crate::gateway::Gateway;
use crate::wire::jsonrpc::encode_result;
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
    let (client, mut permit) = route.admit(gateway.config.request_timeout).await?;
    let service = route.service_name();
    let answered = route
        .retrying(|| {
            let mut client = client.clone();
            let message = GetPromptRequest {
                name: route.original().to_owned(),
                arguments: arguments.clone(),
            };
            let request =
                outbound::request(gateway, context, route.readable_sources(), message, None);
            async move { client.get_prompt(request).await }
        })
        .await
        .map_err(|status| from_status(service, &Target::Prompt, &status));
    permit.record(&answered);
    let response = answered?.into_inner();
    let body = finish_service_result(context, &response.result_json);
    Ok(Reply::Json(encode_result(id_text, &body)))
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
