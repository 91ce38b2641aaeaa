//! `prompts/get` and `completion/complete`: routed by prompt name or
//! resource template to the owning service.

use std::collections::HashMap;
use std::sync::Arc;

use micromcp_proto::{CompleteRequest, GetPromptRequest, complete_request::Reference};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::calls::with_context;
use crate::catalog::{ListKind, ListedItem, MergedCatalog};
use crate::dispatch::{finish, finish_service_result};
use crate::error::GatewayError;
use crate::gateway::{CallContext, Gateway, Reply};
use crate::jsonrpc::encode_result;
use crate::protocol::ParamsHead;
use crate::status::{Target, from_status};

/// The prompt exposed as `name`, if the caller may use it.
fn permitted_prompt<'a>(
    gateway: &Gateway,
    context: &CallContext,
    catalog: &'a Arc<MergedCatalog>,
    name: &str,
) -> Result<&'a ListedItem, GatewayError> {
    let (position, item) = catalog
        .prompt_at(name)
        .ok_or_else(|| GatewayError::InvalidParams(format!("unknown prompt: {name}")))?;
    gateway.policy.check_listed(
        &context.principal,
        catalog,
        ListKind::Prompts,
        position,
        item,
    )?;
    Ok(item)
}

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
    let catalog = gateway.backends.catalog();
    let item = permitted_prompt(gateway, context, &catalog, name)?;
    let backend = &gateway.backends.services()[item.service];
    let request = with_context(
        gateway,
        context,
        GetPromptRequest {
            name: item.original.clone(),
            arguments,
        },
        None,
    );
    let response = backend
        .client
        .clone()
        .get_prompt(request)
        .await
        .map_err(|status| from_status(&backend.config.name, Target::Prompt, &status))?
        .into_inner();
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
    let catalog = gateway.backends.catalog();
    let (service_index, reference) = match params.reference {
        CompleteReference::Prompt { name } => {
            let item = permitted_prompt(gateway, context, &catalog, &name)?;
            (item.service, Reference::PromptName(item.original.clone()))
        }
        CompleteReference::Resource { uri } => {
            let service = catalog.template_service(&uri).ok_or_else(|| {
                GatewayError::InvalidParams(format!("unknown resource template: {uri}"))
            })?;
            gateway
                .policy
                .check_resource(&context.principal, &catalog, &uri, service)?;
            (service, Reference::ResourceUri(uri))
        }
    };
    let empty = r#"{"completion":{"values":[],"hasMore":false}}"#;
    if !catalog.completes(service_index) {
        return Ok(Reply::Json(encode_result(
            id_text,
            finish(gateway, context, empty).as_bytes(),
        )));
    }
    let backend = &gateway.backends.services()[service_index];
    let request = CompleteRequest {
        reference: Some(reference),
        argument_name: params.argument.name,
        argument_value: params.argument.value,
        context_arguments: params
            .context
            .map(|context| context.arguments)
            .unwrap_or_default(),
    };
    let response = backend
        .client
        .clone()
        .complete(with_context(gateway, context, request, None))
        .await
        .map_err(|status| from_status(&backend.config.name, Target::Completion, &status))?
        .into_inner();
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
