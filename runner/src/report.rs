//! What a run tells about a chain, as JSON (`faasin run --report`). Times
//! are seconds since the runner started the chain; a byte count is `null`
//! where it could not be measured (cli/README.md, "What is measured"). The
//! human summaries of the same are in `summary`.

use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct Report {
    /// True when every function exited 0 and the runner stopped nothing.
    pub ok: bool,
    /// What went wrong, naming the function(s) and their status.
    pub error: Option<String>,
    pub interrupted_by: Option<i32>,
    pub transport: String,
    pub started_unix_s: f64,
    pub elapsed_s: f64,
    /// Bytes the runner fed into the first function's faasin.
    pub input_bytes: u64,
    /// Bytes the runner read from the last function's faasout.
    pub output_bytes: u64,
    pub refused_handoffs: u64,
    /// Peak resident memory of the runner process itself.
    pub runner_max_rss_bytes: Option<u64>,
    /// Where whole outputs were stored (`redis` and `file` transports).
    pub store: Option<serde_json::Value>,
    pub notes: Vec<String>,
    pub functions: Vec<FunctionReport>,
    pub edges: Vec<EdgeReport>,
}

#[derive(Debug, Serialize)]
pub struct FunctionReport {
    pub name: String,
    /// "process" or "container".
    pub kind: String,
    pub command: String,
    pub image: Option<String>,
    pub container: Option<String>,
    pub stdio: bool,
    pub handoff: bool,
    pub ok: bool,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub error: Option<String>,
    pub killed_by_runner: bool,
    /// Its stdout: parsed if JSON, else a string; `null` for stdio functions
    /// (their stdout is the stream) and functions that did not start.
    pub return_value: Option<serde_json::Value>,
    pub start_s: Option<f64>,
    /// When it took its ends from the handoff socket (containers).
    pub handoff_s: Option<f64>,
    /// When its first byte appeared on its faasout.
    pub first_byte_s: Option<f64>,
    /// When the first byte of its input was there for it to read.
    pub first_in_s: Option<f64>,
    pub end_s: Option<f64>,
    pub bytes_in: Option<u64>,
    pub bytes_out: Option<u64>,
    /// Peak resident memory of its main process (wait4's ru_maxrss; it
    /// includes the runner's own few MiB it was forked from).
    pub max_rss_bytes: Option<u64>,
    pub notes: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct EdgeReport {
    pub from: String,
    pub to: String,
    pub capacity: usize,
    pub written: Option<u64>,
    pub consumed: Option<u64>,
}

/// A function's stdout as a value: JSON if it parses, else the text.
pub fn return_value(stdout: &[u8]) -> serde_json::Value {
    let text = String::from_utf8_lossy(stdout);
    let t = text.trim();
    if t.is_empty() {
        return serde_json::Value::Null;
    }
    serde_json::from_str(t).unwrap_or_else(|_| serde_json::Value::String(t.to_string()))
}

/// One function of a warm run.
#[derive(Debug, Serialize)]
pub struct WarmFunction {
    pub name: String,
    pub command: String,
    /// The container's name, for a function in one.
    pub container: Option<String>,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub max_rss_bytes: Option<u64>,
}

/// One invocation of a warm run.
#[derive(Debug, Serialize)]
pub struct InvocationReport {
    /// Unix time the runner began the invocation: over rings and pipes its
    /// first grant (the streams were made at the end of the previous one),
    /// over a store its first store operation or grant.
    pub started_unix_s: f64,
    /// Until the last function sent its return value and the output ended.
    pub elapsed_s: f64,
    /// Seconds from the start to each function's return value.
    pub finished_s: Vec<f64>,
    /// Each function's return value (JSON if it parses, else text).
    pub return_values: Vec<serde_json::Value>,
    pub output_bytes: u64,
    /// Edges between functions whose streams ran on the ends the two kept
    /// from the last invocation (over FAASIN, in a chain the runner keeps
    /// together), not on fresh ones.
    pub kept_edges: usize,
}

/// What `faasin run --warm N` tells.
#[derive(Debug, Serialize)]
pub struct WarmReport {
    pub ok: bool,
    pub error: Option<String>,
    pub transport: String,
    pub warm_invocations: usize,
    /// From the first spawn until every function has exited.
    pub elapsed_s: f64,
    /// Until every function had asked for its first invocation.
    pub warm_up_s: Option<f64>,
    pub functions: Vec<WarmFunction>,
    pub invocations: Vec<InvocationReport>,
    pub store: Option<serde_json::Value>,
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

pub fn status_text(code: Option<i32>, signal: Option<i32>) -> String {
    match (code, signal) {
        (Some(c), _) => format!("exit {c}"),
        (None, Some(s)) => format!("killed by {}", crate::signals::name(s)),
        (None, None) => "unknown status".into(),
    }
}

pub fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if b < 1024 {
        return format!("{b} B");
    }
    let mut v = b as f64 / 1024.0;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    format!("{v:.1} {}", UNITS[u])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_values_are_json_when_they_parse() {
        assert_eq!(return_value(b" {\"a\": 1}\n"), serde_json::json!({"a": 1}));
        assert_eq!(return_value(b"42\n"), serde_json::json!(42));
        assert_eq!(return_value(b"12 abc\n"), serde_json::json!("12 abc"));
        assert_eq!(return_value(b"\n"), serde_json::Value::Null);
    }

    #[test]
    fn sizes_read_like_a_person_would_say_them() {
        assert_eq!(human_bytes(5), "5 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(1 << 30), "1.0 GiB");
    }
}
