//! This process's logs and traces: stderr at `MICROMCP_LOG` (human or
//! JSON lines, colour only on a terminal without `NO_COLOR`), and
//! OpenTelemetry traces when the environment asks for them.

/// Logging to stderr at `MICROMCP_LOG`, else `default_filter`; and, when
/// the OpenTelemetry environment asks for them, traces of this process as
/// `role` (their own filter: the log level never hides them).
pub fn init_logging(default_filter: &str, role: &str) -> anyhow::Result<()> {
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = tracing_subscriber::EnvFilter::try_from_env("MICROMCP_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    // Colour only on a terminal, and never with NO_COLOR set (any value).
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty());
    // MICROMCP_LOG_FORMAT=json: one JSON object per line, with the fields of
    // the spans a line is in (a request's trace_id when traces are on).
    let json = match std::env::var("MICROMCP_LOG_FORMAT").as_deref() {
        Ok("json") => true,
        Ok("" | "human") | Err(_) => false,
        Ok(other) => anyhow::bail!("MICROMCP_LOG_FORMAT: {other:?} is not \"json\" or \"human\""),
    };
    let logs = if json {
        tracing_subscriber::fmt::layer()
            .json()
            .with_writer(std::io::stderr)
            .with_filter(filter)
            .boxed()
    } else {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(colour)
            .with_target(false)
            .with_filter(filter)
            .boxed()
    };
    let traces = micromcp_telemetry::traces::layer(role).map_err(anyhow::Error::msg)?;
    tracing_subscriber::registry()
        .with(logs)
        .with(traces)
        .init();
    Ok(())
}
