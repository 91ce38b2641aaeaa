//! A complete Micro-MCP service on the Rust SDK, the one
//! `services/sdk/README.md` walks through: notes kept in memory.
//!
//! - tool `count`: reports progress and logs at each step, and notices when
//!   the client cancels it;
//! - tool `add_note`: adds a note and publishes the changed catalog;
//! - tool `read_note`: a tool-level error (`isError`) for an unknown note,
//!   a protocol error for arguments that do not parse;
//! - tool `forget`: asks the user to confirm (elicitation) before it deletes;
//! - resource `note://big`: 200 000 bytes produced and sent in chunks;
//! - resources `note://NAME`: one per note;
//! - prompt `summarize_note`.
//!
//! ```sh
//! cargo run -p micromcp-sdk --example notes -- --listen 127.0.0.1:7001
//! ```

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use micromcp_sdk::proto::{
    Catalog, Prompt, PromptArgument, Resource, ResourceHeader, Tool, ToolAnnotations,
};
use micromcp_sdk::{
    CatalogPublisher, Listener, McpService, ResourceContent, ServeOptions, ServiceError,
    ServiceResult, ToolCall, ToolEvents, ToolOutput,
};
use serde::Deserialize;
use serde_json::{Value, json};

/// Size of `note://big`, produced chunk by chunk when it is read.
const BIG_NOTE_BYTES: usize = 200_000;
/// One line of `note://big`: `line 000042 of the big note\n` (28 bytes).
const BIG_LINE_BYTES: usize = 28;

/// The service: its notes and the catalog the gateway follows.
struct NotesService {
    notes: Mutex<BTreeMap<String, String>>,
    catalog: CatalogPublisher,
}

// === impl NotesService ===

impl NotesService {
    fn new() -> Self {
        let notes = BTreeMap::from([("welcome".to_owned(), "Hello from Rust.".to_owned())]);
        let catalog = CatalogPublisher::new(catalog_of(&notes));
        Self {
            notes: Mutex::new(notes),
            catalog,
        }
    }

    /// Runs `change` on the notes, then tells the gateway the catalog changed.
    fn change_notes(&self, change: impl FnOnce(&mut BTreeMap<String, String>)) {
        let catalog = {
            let mut notes = self
                .notes
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            change(&mut notes);
            catalog_of(&notes)
        };
        self.catalog.publish(catalog);
    }

    fn note(&self, name: &str) -> Option<String> {
        let notes = self
            .notes
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        notes.get(name).cloned()
    }

    async fn count(&self, call: &ToolCall, events: &ToolEvents) -> ServiceResult<ToolOutput> {
        #[derive(Deserialize)]
        struct Arguments {
            to: u32,
            #[serde(default = "default_step_ms")]
            step_ms: u64,
        }
        fn default_step_ms() -> u64 {
            10
        }
        let arguments: Arguments = call.parse_arguments()?;
        if arguments.to > 1000 || arguments.step_ms > 10_000 {
            return Err(ServiceError::InvalidArgument(
                "count: `to` is at most 1000 and `step_ms` at most 10000".into(),
            ));
        }
        // The gateway cancels a call by dropping it here: nothing after the
        // `await` it is waiting on runs, and `Drop` is where to notice.
        let mut guard = CancelNotice {
            request_id: call.request_id.clone(),
            step: 0,
            finished: false,
        };
        for step in 1..=arguments.to {
            tokio::time::sleep(Duration::from_millis(arguments.step_ms)).await;
            guard.step = step;
            let total = f64::from(arguments.to);
            events
                .progress(f64::from(step), Some(total), &format!("step {step}"))
                .await;
            events
                .log("info", "notes.count", &json!({"step": step}))
                .await;
        }
        guard.finished = true;
        Ok(ToolOutput::text(format!("counted to {}", arguments.to)))
    }

    fn read_note(&self, call: &ToolCall) -> ServiceResult<ToolOutput> {
        #[derive(Deserialize)]
        struct Arguments {
            name: String,
        }
        // Arguments that do not parse are the client's mistake: a protocol
        // error (InvalidArgument, JSON-RPC -32602).
        let arguments: Arguments = call.parse_arguments()?;
        Ok(match self.note(&arguments.name) {
            Some(text) => ToolOutput::text(text),
            // A note that does not exist is something the model can fix:
            // a tool result with `isError: true` that says what exists.
            None => {
                let names: Vec<String> = self
                    .notes
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .keys()
                    .cloned()
                    .collect();
                ToolOutput::error(format!(
                    "no note named {:?}; the notes are: {}",
                    arguments.name,
                    names.join(", ")
                ))
            }
        })
    }

    fn add_note(&self, call: &ToolCall) -> ServiceResult<ToolOutput> {
        #[derive(Deserialize)]
        struct Arguments {
            name: String,
            text: String,
        }
        let arguments: Arguments = call.parse_arguments()?;
        if arguments.name.is_empty()
            || arguments.name.len() > 64
            || !arguments
                .name
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
        {
            return Err(ServiceError::InvalidArgument(
                "add_note: name is 1-64 letters, digits, '-' or '_'".into(),
            ));
        }
        let uri = format!("note://{}", arguments.name);
        self.change_notes(|notes| {
            notes.insert(arguments.name, arguments.text);
        });
        Ok(ToolOutput::text(format!("added {uri}")))
    }

    async fn forget(&self, call: &ToolCall, events: &ToolEvents) -> ServiceResult<ToolOutput> {
        #[derive(Deserialize)]
        struct Arguments {
            name: String,
        }
        let arguments: Arguments = call.parse_arguments()?;
        if self.note(&arguments.name).is_none() {
            return Ok(ToolOutput::error(format!(
                "no note named {:?}",
                arguments.name
            )));
        }
        if !events.client_supports("elicitation") {
            return Ok(ToolOutput::error(
                "forget asks the user first, and this client cannot ask its user",
            ));
        }
        // Asks the user through the client. A 2025-11-25 session answers
        // while this call waits; a 2026-07-28 client answers in a new round,
        // and this call runs again from the start and gets the answer here.
        let answer = events
            .request_input(
                "elicitation/create",
                &json!({
                    "message": format!("Forget the note {:?}?", arguments.name),
                    "requestedSchema": {
                        "type": "object",
                        "properties": {"confirm": {"type": "boolean", "title": "Forget it"}},
                        "required": ["confirm"],
                    },
                }),
            )
            .await?;
        let confirmed = answer["action"] == "accept" && answer["content"]["confirm"] == true;
        if !confirmed {
            return Ok(ToolOutput::text(format!("kept {}", arguments.name)));
        }
        self.change_notes(|notes| {
            notes.remove(&arguments.name);
        });
        Ok(ToolOutput::text(format!("forgot {}", arguments.name)))
    }
}

impl McpService for NotesService {
    fn catalog(&self) -> &CatalogPublisher {
        &self.catalog
    }

    async fn call_tool(&self, call: ToolCall, events: ToolEvents) -> ServiceResult<ToolOutput> {
        match call.name.as_str() {
            "count" => self.count(&call, &events).await,
            "read_note" => self.read_note(&call),
            "add_note" => self.add_note(&call),
            "forget" => self.forget(&call, &events).await,
            other => Err(ServiceError::NotFound(format!("unknown tool: {other}"))),
        }
    }

    async fn read_resource(&self, uri: String) -> ServiceResult<ResourceContent> {
        if uri == "note://big" {
            return Ok(big_note(uri));
        }
        let text = uri
            .strip_prefix("note://")
            .and_then(|name| self.note(name))
            .ok_or_else(|| ServiceError::NotFound(format!("no such note: {uri}")))?;
        let header = ResourceHeader {
            uri,
            mime_type: "text/plain".into(),
            is_text: true,
            size: u64::try_from(text.len()).ok(),
        };
        Ok(ResourceContent::from_bytes(header, Bytes::from(text)))
    }

    async fn get_prompt(
        &self,
        name: String,
        arguments: HashMap<String, String>,
    ) -> ServiceResult<Bytes> {
        if name != "summarize_note" {
            return Err(ServiceError::NotFound(format!("unknown prompt: {name}")));
        }
        let note_name = arguments.get("name").ok_or_else(|| {
            ServiceError::InvalidArgument("summarize_note needs the argument `name`".into())
        })?;
        let text = self
            .note(note_name)
            .ok_or_else(|| ServiceError::InvalidArgument(format!("no note named {note_name:?}")))?;
        let result = json!({
            "description": format!("Summarize the note {note_name:?}"),
            "messages": [{
                "role": "user",
                "content": {"type": "text", "text": format!("Summarize this note in one sentence:\n\n{text}")},
            }],
        });
        Ok(Bytes::from(result.to_string()))
    }
}

/// Says on stderr when a `count` ends before its last step: the gateway
/// cancelled it (the client did, or it went away).
struct CancelNotice {
    request_id: String,
    step: u32,
    finished: bool,
}

impl Drop for CancelNotice {
    fn drop(&mut self) {
        if !self.finished {
            eprintln!(
                "count {} cancelled after step {}",
                self.request_id, self.step
            );
        }
    }
}

/// `note://big`, made one 64 KiB chunk at a time as the gateway reads it:
/// memory stays flat however large a resource is.
fn big_note(uri: String) -> ResourceContent {
    let header = ResourceHeader {
        uri,
        mime_type: "text/plain".into(),
        is_text: true,
        size: u64::try_from(BIG_NOTE_BYTES).ok(),
    };
    let chunk_bytes = micromcp_sdk::proto::MAX_RESOURCE_CHUNK_BYTES;
    let chunks = futures::stream::unfold(0usize, move |offset| async move {
        if offset >= BIG_NOTE_BYTES {
            return None;
        }
        let end = (offset + chunk_bytes).min(BIG_NOTE_BYTES);
        let chunk: Vec<u8> = (offset..end).map(big_note_byte).collect();
        Some((Ok(Bytes::from(chunk)), end))
    });
    ResourceContent {
        header,
        chunks: Box::pin(chunks),
    }
}

/// Byte `offset` of `note://big`.
fn big_note_byte(offset: usize) -> u8 {
    let line = format!("line {:06} of the big note\n", offset / BIG_LINE_BYTES);
    line.as_bytes()[offset % BIG_LINE_BYTES]
}

fn tool(name: &str, description: &str, schema: Value) -> Tool {
    Tool {
        name: name.into(),
        description: description.into(),
        input_schema_json: Bytes::from(schema.to_string()),
        ..Tool::default()
    }
}

/// What the service offers, for the notes it holds now.
fn catalog_of(notes: &BTreeMap<String, String>) -> Catalog {
    let name_only =
        json!({"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]});
    let mut forget = tool(
        "forget",
        "Deletes a note after the user confirms",
        name_only.clone(),
    );
    forget.annotations = Some(ToolAnnotations {
        destructive_hint: Some(true),
        ..ToolAnnotations::default()
    });
    let mut read_note = tool("read_note", "Returns a note's text", name_only);
    read_note.annotations = Some(ToolAnnotations {
        read_only_hint: Some(true),
        ..ToolAnnotations::default()
    });
    let tools = vec![
        tool(
            "count",
            "Counts to `to`, one step every `step_ms`, with progress and logs",
            json!({"type": "object", "properties": {
                "to": {"type": "integer", "minimum": 0, "maximum": 1000},
                "step_ms": {"type": "integer", "minimum": 0, "maximum": 10000}
            }, "required": ["to"]}),
        ),
        tool(
            "add_note",
            "Adds a note (it becomes the resource note://NAME)",
            json!({"type": "object", "properties": {
                "name": {"type": "string"}, "text": {"type": "string"}
            }, "required": ["name", "text"]}),
        ),
        read_note,
        forget,
    ];
    let mut resources = vec![Resource {
        uri: "note://big".into(),
        name: "big".into(),
        description: "200 000 bytes, read in chunks".into(),
        mime_type: "text/plain".into(),
        size: u64::try_from(BIG_NOTE_BYTES).ok(),
        ..Resource::default()
    }];
    resources.extend(notes.iter().map(|(name, text)| Resource {
        uri: format!("note://{name}"),
        name: name.clone(),
        mime_type: "text/plain".into(),
        size: u64::try_from(text.len()).ok(),
        ..Resource::default()
    }));
    let prompts = vec![Prompt {
        name: "summarize_note".into(),
        description: "Asks the model to summarize a note".into(),
        arguments: vec![PromptArgument {
            name: "name".into(),
            description: "The note's name".into(),
            required: true,
        }],
        ..Prompt::default()
    }];
    Catalog {
        tools,
        resources,
        prompts,
        ..Catalog::default()
    }
}

/// `--listen ADDR` (TCP, default 127.0.0.1:7001) or `--socket PATH` (Unix).
enum Address {
    Tcp(String),
    Unix(String),
}

fn address_from_args() -> Result<Address, String> {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    match arguments.as_slice() {
        [] => Ok(Address::Tcp("127.0.0.1:7001".into())),
        [flag, value] if flag == "--listen" => Ok(Address::Tcp(value.clone())),
        [flag, value] if flag == "--socket" => Ok(Address::Unix(value.clone())),
        [flag] if flag == "--listen" || flag == "--socket" => Err(format!(
            "{flag} needs a value (usage: notes [--listen HOST:PORT | --socket PATH])"
        )),
        _ => Err(format!(
            "unknown arguments {arguments:?} (usage: notes [--listen HOST:PORT | --socket PATH])"
        )),
    }
}

/// Resolves on Ctrl-C or SIGTERM: the SDK then drains calls in flight.
async fn shutdown_signal() {
    let mut terminate =
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(terminate) => terminate,
            Err(_) => return std::future::pending().await,
        };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            // One line naming what was wrong, never a debug dump.
            eprintln!("error: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), String> {
    let listener = match address_from_args()? {
        Address::Tcp(address) => {
            let bound = tokio::net::TcpListener::bind(&address)
                .await
                .map_err(|error| format!("--listen {address}: {error}"))?;
            let local = bound
                .local_addr()
                .map_err(|error| format!("--listen {address}: {error}"))?;
            println!("notes service on {local}");
            Listener::Tcp(bound)
        }
        Address::Unix(path) => {
            let bound = tokio::net::UnixListener::bind(&path)
                .map_err(|error| format!("--socket {path}: {error}"))?;
            println!("notes service on unix:{path}");
            Listener::Unix(bound)
        }
    };
    let service = Arc::new(NotesService::new());
    micromcp_sdk::serve(
        service,
        listener,
        ServeOptions::default(),
        shutdown_signal(),
    )
    .await
    .map_err(|error| format!("serving: {error}"))
}
