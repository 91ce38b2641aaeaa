//! A tool's behaviour hints (`readOnlyHint`, `destructiveHint`,
//! `idempotentHint`, `openWorldHint`) as a catalog fact, with MCP's
//! defaults for the ones a service leaves out. Policies test them; a tool call
//! is retried only when `idempotent` or `read_only`.

/// A tool's behaviour hints, with MCP's defaults for absent ones
/// (not read-only, destructive, not idempotent, open world).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ToolHints {
    pub read_only: bool,
    pub destructive: bool,
    pub idempotent: bool,
    pub open_world: bool,
}

// === impl ToolHints ===

impl Default for ToolHints {
    fn default() -> Self {
        Self {
            read_only: false,
            destructive: true,
            idempotent: false,
            open_world: true,
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
        }
    }
}
