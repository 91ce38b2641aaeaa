//! `tasks/get`, `tasks/update` and `tasks/cancel` (the tasks extension,
//! SEP-2663; 2026-07-28 requests that declared it, else -32021). The task
//! id is the gateway's sealed one: it names the service that created the
//! task and opens only for the principal it was created for — anything
//! else is an unknown task (-32602). The request goes to that service's
//! `Task` RPC through its route (breaker, limits); a `tasks/get` answer
//! gets the client's task id back.

use std::collections::HashMap;
use std::sync::Arc;

use micromcp_proto::TaskRequest;

use super::result::{finish_service_result, seal_task_id};
use super::{input_rounds, outbound, route, task_ids};
use crate::backends::{Target, from_status};
use crate::context::{CallContext, Reply};
use crate::error::GatewayError;
use crate::gateway::Gateway;
use crate::wire::jsonrpc::encode_result;
use crate::wire::protocol::ParamsHead;

fn unknown(id: &str) -> GatewayError {
    let shown: String = id.chars().take(64).collect();
    GatewayError::InvalidParams(format!("unknown task: {shown}"))
}

pub(crate) async fn handle(
    gateway: &Arc<Gateway>,
    context: &CallContext,
    method: &str,
    id_text: &str,
    head: ParamsHead<'_>,
) -> Result<Reply, GatewayError> {
    if !context.is_modern() {
        return Err(GatewayError::MethodNotFound(format!(
            "{method} belongs to the tasks extension of protocol 2026-07-28"
        )));
    }
    if !task_ids::declared(context) {
        return Err(task_ids::not_declared());
    }
    let id = head
        .task_id
        .as_deref()
        .ok_or_else(|| GatewayError::InvalidParams("missing params.taskId".into()))?;
    let (service, task) = gateway
        .task_ids
        .open(id, &context.principal.view_key().to_hex())
        .ok_or_else(|| unknown(id))?;
    let input_responses_json = match (method, head.input_responses) {
        ("tasks/update", Some(raw)) => input_rounds::answers(raw)?,
        _ => HashMap::new(),
    };
    let route = route::task(gateway, context, &service)?;
    let (mut client, mut permit) = route.admit(gateway.config.request_timeout).await?;
    let request = outbound::request(
        gateway,
        context,
        route.readable_sources(),
        TaskRequest {
            method: method.to_owned(),
            task_id: task,
            input_responses_json,
        },
        None,
    );
    let answered = client.task(request).await.map_err(|status| {
        if status.code() == tonic::Code::NotFound {
            unknown(id)
        } else {
            from_status(&service, &Target::Tool, &status)
        }
    });
    permit.record(&answered);
    let result_json = answered?.into_inner().result_json;
    let body = if method == "tasks/get" {
        let mut detailed: serde_json::Value = serde_json::from_slice(&result_json)
            .map_err(|error| GatewayError::transient(&service, format!("invalid task: {error}")))?;
        seal_task_id(gateway, context, &service, &mut detailed);
        finish_service_result(context, detailed.to_string().as_bytes())
    } else {
        finish_service_result(context, &result_json)
    };
    Ok(Reply::Json(encode_result(id_text, &body)))
}
