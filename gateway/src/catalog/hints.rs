//! A tool's behaviour hints (`readOnlyHint`, `destructiveHint`,
//! `idempotentHint`, `openWorldHint`) as a catalog fact, with MCP's
//! defaults for the ones a service leaves out. Policies test them; a tool call
//! is retried only when `idempotent` or `read_only`. Also whether the tool
//! answers only with a task (`execution.taskSupport: "required"`, the tasks
//! extension), so a client that cannot take one is told at once.

/// A tool's behaviour hints, with MCP's defaults for absent ones
/// (not read-only, destructive, not idempotent, open world).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ToolHints {
    pub read_only: bool,
    pub destructive: bool,
    pub idempotent: bool,
    pub open_world: bool,
    /// `execution.taskSupport` is `required`.
    pub task_required: bool,
}

// === impl ToolHints ===

impl Default for ToolHints {
    fn default() -> Self {
        Self {
            read_only: false,
            destructive: true,
            idempotent: false,
            open_world: true,
            task_required: false,
        }
    }
}

impl ToolHints {
    /// The hints a service declared, defaults for the rest.
    pub fn of(annotations: Option<&micromcp_proto::ToolAnnotations>) -> Self {
        let defaults = Self::default();
        let Some(annotations) = annotations else {
            return defaults;
        };
        Self {
            read_only: annotations.read_only_hint.unwrap_or(defaults.read_only),
            destructive: annotations.destructive_hint.unwrap_or(defaults.destructive),
            idempotent: annotations.idempotent_hint.unwrap_or(defaults.idempotent),
            open_world: annotations.open_world_hint.unwrap_or(defaults.open_world),
            task_required: false,
        }
    }

    /// The same hints with the tool's `execution.taskSupport`, read from
    /// its extra fields (`extra_json`).
    pub fn with_execution(mut self, extra_json: &[u8]) -> Self {
        if extra_json
            .windows(11)
            .any(|window| window == b"taskSupport")
        {
            let extra: serde_json::Value = serde_json::from_slice(extra_json).unwrap_or_default();
            self.task_required = extra["execution"]["taskSupport"] == "required";
        }
        self
    }
}
