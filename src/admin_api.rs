//! Commands that ask a running gateway's admin API (`micromcp registry add`,
//! `micromcp tools`): one request with `MICROMCP_ADMIN_TOKEN` as bearer
//! token when set, the JSON answer, or an error with the status and the
//! answer's `error` text.

use serde_json::Value;

/// `request` (a JSON body when given) sent to `admin` + `path`.
pub async fn call(
    method: reqwest::Method,
    admin: &str,
    path: &str,
    body_opt: Option<&Value>,
) -> anyhow::Result<Value> {
    let url = format!("{}{path}", admin.trim_end_matches('/'));
    let mut request = reqwest::Client::new().request(method, &url);
    if let Some(token) = std::env::var("MICROMCP_ADMIN_TOKEN")
        .ok()
        .map(|token| token.trim().to_owned())
        .filter(|token| !token.is_empty())
    {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body_opt {
        request = request
            .header("Content-Type", "application/json")
            .body(body.to_string());
    }
    let response = request
        .send()
        .await
        .map_err(|error| anyhow::anyhow!("{url}: {error}"))?;
    let status = response.status();
    let answer: Value = response.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        let message = answer
            .get("error")
            .and_then(Value::as_str)
            .map_or_else(|| answer.to_string(), str::to_owned);
        anyhow::bail!("{status}: {message}");
    }
    Ok(answer)
}
