//! Audit: one JSON line per request (time, request id, principal, era,
//! method, target, decision and reason, outcome, latency, sizes), written
//! when the request's answer ends — before a complete answer is released,
//! and when a streamed answer finishes or its client goes away. Fronts
//! gather the fields in an [`AuditEntry`] as the request advances; an
//! entry dropped unfinished is written as `cancelled`. Tokens and session
//! ids are never recorded; tool arguments only when configured, redacted.

mod record;
mod sink;
mod stream;
mod tail;

use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::value::RawValue;

pub use self::record::{AuditRecord, Decision, Outcome, redact};
pub use self::sink::{FileSink, Sink};
pub use self::stream::{AuditedBody, audit_events, error_answer_code};

use crate::catalog::CALL_TOOL;
use crate::config::{AuditConfig, AuditTarget, CatalogConfig, Disclosure};
use crate::context::CallContext;
use crate::error::GatewayError;
use crate::principal::Principal;
use crate::telemetry;
use crate::wire::protocol::ParamsHead;

/// The gateway's audit log.
#[derive(Debug)]
pub struct Audit {
    sink_opt: Option<Sink>,
    include_arguments: bool,
    redact_fields: Vec<String>,
    failures: AtomicU64,
    /// The last records written, for the admin listener (with a file, the
    /// last ones earlier runs wrote, read at start).
    recent: Mutex<VecDeque<String>>,
}

/// Records kept for the admin listener's `/api/audit`.
pub const RECENT_RECORDS: usize = 200;

/// Fields of one request, gathered as it advances.
#[derive(Debug)]
struct EntryFields {
    audit: Arc<Audit>,
    time: jiff::Timestamp,
    started: Instant,
    transport: &'static str,
    request_id: Option<String>,
    principal: Option<Arc<Principal>>,
    era: Option<&'static str>,
    /// The method as a metrics label.
    method_label: &'static str,
    method: Option<String>,
    target: Option<String>,
    arguments: Option<serde_json::Value>,
    denied: Option<String>,
    error: Option<(i64, &'static str)>,
    http_status: Option<u16>,
    bytes_in: u64,
    bytes_out: u64,
    /// Refused by a rate limit (a category of its own in metrics).
    rate_limited: bool,
    /// Counts the request in flight (metrics) while the entry lives.
    _in_flight: Option<telemetry::InFlight>,
}

/// One request's audit record in the making (and its metrics); inert when
/// audit and metrics are off.
#[derive(Debug, Default)]
pub struct AuditEntry {
    fields_opt: Option<Box<EntryFields>>,
}

thread_local! {
    static LINE: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(512));
}

// === impl Audit ===

impl Audit {
    /// Opens the configured sink; the error names `audit.path`.
    pub fn open(config: &AuditConfig) -> Result<Arc<Self>, String> {
        let recent = match &config.target {
            AuditTarget::File { path, .. } => tail::last_records(path, RECENT_RECORDS),
            _ => VecDeque::new(),
        };
        let sink_opt = match &config.target {
            AuditTarget::Off => None,
            AuditTarget::Stdout => Some(Sink::Stdout),
            AuditTarget::File {
                path,
                max_bytes,
                keep,
            } => Some(Sink::File(
                FileSink::open(path, *max_bytes, *keep, config.fsync)
                    .map_err(|error| format!("audit.path: {}: {error}", path.display()))?,
            )),
        };
        Ok(Arc::new(Self {
            sink_opt,
            include_arguments: config.include_arguments,
            redact_fields: config.redact_fields.clone(),
            failures: AtomicU64::new(0),
            recent: Mutex::new(recent),
        }))
    }

    /// No audit log.
    pub fn off() -> Arc<Self> {
        Arc::new(Self {
            sink_opt: None,
            include_arguments: false,
            redact_fields: Vec::new(),
            failures: AtomicU64::new(0),
            recent: Mutex::default(),
        })
    }

    /// Starts the entry of a request that arrived on `transport`.
    pub fn begin(self: &Arc<Self>, transport: &'static str) -> AuditEntry {
        if self.sink_opt.is_none() && !telemetry::enabled() {
            return AuditEntry::default();
        }
        AuditEntry {
            fields_opt: Some(Box::new(EntryFields {
                audit: self.clone(),
                time: jiff::Timestamp::now(),
                started: Instant::now(),
                transport,
                request_id: None,
                principal: None,
                era: None,
                method_label: "none",
                method: None,
                target: None,
                arguments: None,
                denied: None,
                error: None,
                http_status: None,
                bytes_in: 0,
                bytes_out: 0,
                rate_limited: false,
                _in_flight: telemetry::InFlight::start(),
            })),
        }
    }

    /// Writes one record (encoded in a per-thread buffer).
    pub fn write(&self, record: &AuditRecord<'_>) {
        let Some(sink) = &self.sink_opt else {
            return;
        };
        let started = Instant::now();
        let written = LINE.with(|line| {
            let mut line = line.borrow_mut();
            line.clear();
            record.encode_into(&mut line);
            if telemetry::enabled() {
                self.keep_recent(&line);
            }
            sink.write_line(&line).map(|()| line.len())
        });
        if telemetry::enabled() {
            match &written {
                Ok(bytes) => {
                    metrics::counter!(telemetry::AUDIT_RECORDS).increment(1);
                    metrics::counter!(telemetry::AUDIT_BYTES).increment(*bytes as u64);
                    metrics::histogram!(telemetry::AUDIT_WRITE_SECONDS)
                        .record(started.elapsed().as_secs_f64());
                }
                Err(_) => metrics::counter!(telemetry::AUDIT_FAILURES).increment(1),
            }
        }
        if let Err(error) = written {
            let failures = self.failures.fetch_add(1, Ordering::Relaxed);
            if failures.is_power_of_two() || failures == 0 {
                tracing::error!(%error, failures = failures + 1, "audit record not written");
            }
        }
    }

    /// The last `limit` records written (at most [`RECENT_RECORDS`]), oldest
    /// first, each one JSON line.
    pub fn recent(&self, limit: usize) -> Vec<String> {
        let recent = self
            .recent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        recent
            .iter()
            .skip(recent.len().saturating_sub(limit))
            .cloned()
            .collect()
    }

    fn keep_recent(&self, line: &[u8]) {
        let text = String::from_utf8_lossy(line).trim_end().to_owned();
        let mut recent = self
            .recent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if recent.len() == RECENT_RECORDS {
            recent.pop_front();
        }
        recent.push_back(text);
    }

    /// Forces written records to disk (shutdown).
    pub fn sync(&self) {
        if let Some(sink) = &self.sink_opt
            && let Err(error) = sink.sync()
        {
            tracing::error!(%error, "audit log not synced");
        }
    }
}

// === impl AuditEntry ===

impl AuditEntry {
    /// True when a record will be written.
    pub fn is_on(&self) -> bool {
        self.fields_opt.is_some()
    }

    /// The authenticated principal.
    pub fn principal(&mut self, principal: &Arc<Principal>) {
        if let Some(fields) = &mut self.fields_opt {
            fields.principal = Some(principal.clone());
        }
    }

    /// The method and the request's size.
    pub fn request(&mut self, method: &str, bytes_in: usize) {
        if let Some(fields) = &mut self.fields_opt {
            fields.method_label = telemetry::method_label(method);
            if fields.audit.sink_opt.is_some() {
                fields.method = Some(method.to_owned());
            }
            fields.bytes_in = bytes_in as u64;
        }
    }

    /// The target of `method` with `head` as audited: for a `call_tool`
    /// (`[catalog] disclosure = "search"`) the tool it calls and that
    /// tool's arguments, as for a direct call; otherwise [`AuditEntry::target`].
    pub fn request_target(&mut self, method: &str, head: &ParamsHead<'_>, catalog: &CatalogConfig) {
        #[derive(serde::Deserialize)]
        struct Called<'a> {
            name: String,
            #[serde(default, borrow)]
            arguments: Option<&'a RawValue>,
        }
        let calls_through = method == "tools/call"
            && catalog.disclosure == Disclosure::Search
            && head.name.as_deref() == Some(CALL_TOOL);
        let called_opt = head
            .arguments
            .filter(|_| calls_through)
            .and_then(|raw| serde_json::from_str::<Called<'_>>(raw.get()).ok());
        match called_opt {
            Some(called) => self.target(Some(&called.name), called.arguments),
            None => self.target(head.name.as_deref().or(head.uri.as_deref()), head.arguments),
        }
    }

    /// The target (tool or prompt name, URI); tool arguments are kept
    /// (redacted) when configured.
    pub fn target(&mut self, target: Option<&str>, arguments: Option<&RawValue>) {
        let Some(fields) = &mut self.fields_opt else {
            return;
        };
        if fields.audit.sink_opt.is_none() {
            return;
        }
        fields.target = target.map(str::to_owned);
        if fields.audit.include_arguments
            && let Some(raw) = arguments
            && let Ok(value) = serde_json::from_str(raw.get())
        {
            fields.arguments = Some(redact(value, &fields.audit.redact_fields));
        }
    }

    /// The gateway request id and era of the call.
    pub fn context(&mut self, context: &CallContext) {
        if let Some(fields) = &mut self.fields_opt {
            if fields.audit.sink_opt.is_some() {
                fields.request_id = Some(context.request_id.clone());
            }
            fields.era = Some(if context.is_modern() {
                "modern"
            } else {
                "legacy"
            });
        }
    }

    /// The era, when no call context exists (`initialize`).
    pub fn era(&mut self, era: &'static str) {
        if let Some(fields) = &mut self.fields_opt {
            fields.era = Some(era);
        }
    }

    /// The request failed with `error` (a refusal when unauthorized or forbidden).
    pub fn error(&mut self, error: &GatewayError) {
        let Some(fields) = &mut self.fields_opt else {
            return;
        };
        let category = error.category();
        fields.error = Some((error.code(), category.as_str()));
        fields.rate_limited = matches!(error, GatewayError::RateLimited { .. });
        if matches!(
            category,
            crate::error::ErrorCategory::Unauthorized | crate::error::ErrorCategory::Forbidden
        ) {
            fields.denied = Some(error.to_string());
        }
        if let GatewayError::HiddenTool { reason, .. } = error {
            fields.denied = Some(reason.clone());
        }
    }

    /// The request was refused before it was read (Host/Origin checks).
    pub fn refused(&mut self, reason: &str) {
        if let Some(fields) = &mut self.fields_opt {
            fields.denied = Some(reason.to_owned());
        }
    }

    /// The answer ended in a JSON-RPC error with `code` (streamed answers).
    pub fn failed(&mut self, code: i64) {
        if let Some(fields) = &mut self.fields_opt
            && fields.error.is_none()
        {
            fields.error = Some((code, crate::error::category_of_code(code).as_str()));
        }
    }

    /// Drops the entry without a record (messages that are not requests).
    pub fn discard(&mut self) {
        self.fields_opt = None;
    }

    /// The HTTP status of the answer; 4xx and 5xx make the outcome `error`.
    pub fn http_status(&mut self, status: u16) {
        if let Some(fields) = &mut self.fields_opt {
            fields.http_status = Some(status);
        }
    }

    /// Adds to the answer's size.
    pub fn sent(&mut self, bytes: usize) {
        if let Some(fields) = &mut self.fields_opt {
            fields.bytes_out += bytes as u64;
        }
    }

    /// Moves the entry out (to a stream that finishes it), leaving an
    /// inert one behind.
    pub fn take(&mut self) -> Self {
        Self {
            fields_opt: self.fields_opt.take(),
        }
    }

    /// Writes the record: `error` if one was noted, else `ok`.
    pub fn finish(mut self) {
        if let Some(fields) = self.fields_opt.take() {
            let failed_status = fields.http_status.is_some_and(|status| status >= 400);
            let outcome = if fields.error.is_some() || fields.denied.is_some() || failed_status {
                Outcome::Error
            } else {
                Outcome::Ok
            };
            write(&fields, outcome);
        }
    }
}

impl Drop for AuditEntry {
    fn drop(&mut self) {
        if let Some(fields) = self.fields_opt.take() {
            write(&fields, Outcome::Cancelled);
        }
    }
}

fn write(fields: &EntryFields, outcome: Outcome) {
    if telemetry::enabled() {
        let outcome_label = match outcome {
            Outcome::Ok => "ok",
            Outcome::Error if fields.denied.is_some() => "denied",
            Outcome::Error => "error",
            Outcome::Cancelled => "cancelled",
        };
        telemetry::request_finished(
            fields.method_label,
            fields.era.unwrap_or("none"),
            outcome_label,
            if fields.rate_limited {
                "rate_limited"
            } else {
                fields.error.map_or("none", |(_, category)| category)
            },
            fields.started.elapsed(),
        );
    }
    if fields.audit.sink_opt.is_none() {
        return;
    }
    let record = AuditRecord {
        time: fields.time,
        request_id: fields.request_id.as_deref(),
        principal: fields
            .principal
            .as_deref()
            .map(|principal| principal.id.as_str()),
        transport: fields.transport,
        era: fields.era,
        method: fields.method.as_deref(),
        target: fields.target.as_deref(),
        decision: if fields.denied.is_some() {
            Decision::Deny
        } else {
            Decision::Allow
        },
        reason: fields.denied.as_deref(),
        outcome,
        error: fields.error,
        http_status: fields.http_status,
        latency_us: u64::try_from(fields.started.elapsed().as_micros()).unwrap_or(u64::MAX),
        bytes_in: fields.bytes_in,
        bytes_out: fields.bytes_out,
        arguments: fields.arguments.as_ref(),
    };
    fields.audit.write(&record);
}
