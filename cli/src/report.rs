//! What the runner tells about a chain: JSON (`--report`) and the summary on
//! stderr. Times are seconds since the runner started the chain; a byte count
//! is `null` where it could not be measured (see README, "What is measured").

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

pub fn status_text(code: Option<i32>, signal: Option<i32>) -> String {
    match (code, signal) {
        (Some(c), _) => format!("exit {c}"),
        (None, Some(s)) => format!("killed by {}", crate::signals::name(s)),
        (None, None) => "unknown status".into(),
    }
}

/// Peak resident memory of this process (VmHWM: unlike getrusage's
/// ru_maxrss, it does not carry over what the process that exec'ed the
/// runner had).
pub fn self_max_rss() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let l = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = l.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
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

impl Report {
    /// The human summary for stderr.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let verdict = if self.ok { "ok" } else { "FAILED" };
        // The busiest edge tells the chain's throughput.
        let most = self
            .edges
            .iter()
            .filter_map(|e| e.written)
            .max()
            .unwrap_or(0);
        let rate = if self.elapsed_s > 0.0 && most > 0 {
            format!(
                ", busiest edge {}/s",
                human_bytes((most as f64 / self.elapsed_s) as u64)
            )
        } else {
            String::new()
        };
        s.push_str(&format!(
            "faasin: {} function(s) over {} in {:.3} s: {verdict}; input {}, output {}{rate}\n",
            self.functions.len(),
            match self.transport.as_str() {
                "faasin" => "FAASIN rings",
                "redis" => "Redis (store and forward)",
                "file" => "files (store and forward)",
                _ => "OS pipes",
            },
            self.elapsed_s,
            human_bytes(self.input_bytes),
            human_bytes(self.output_bytes),
        ));
        let t = |v: Option<f64>| v.map_or("-".to_string(), |x| format!("{x:.3}"));
        let b = |v: Option<u64>| v.map_or("?".to_string(), human_bytes);
        s.push_str(&format!(
            "  {:>2} {:<14} {:<18} {:>10} {:>10} {:>7} {:>7} {:>7}  return value\n",
            "#", "function", "status", "in", "out", "start", "1st out", "end"
        ));
        for (i, f) in self.functions.iter().enumerate() {
            let status = match (&f.error, f.exit_code, f.signal) {
                (Some(_), _, _) => "not started".to_string(),
                (None, None, Some(sig)) => {
                    let name = crate::signals::name(sig);
                    let short = name.split(['(', ')']).nth(1).unwrap_or(&name).to_string();
                    format!("killed: {short}")
                }
                (None, code, sig) => status_text(code, sig),
            };
            let mut ret = match &f.return_value {
                None if f.stdio => "(stdio: stdout is the stream)".to_string(),
                None => "-".to_string(),
                Some(v) => v.to_string(),
            };
            if ret.len() > 60 {
                let cut = (0..=57)
                    .rev()
                    .find(|&i| ret.is_char_boundary(i))
                    .unwrap_or(0);
                ret = format!("{}...", &ret[..cut]);
            }
            s.push_str(&format!(
                "  {:>2} {:<14} {:<18} {:>10} {:>10} {:>7} {:>7} {:>7}  {ret}\n",
                i + 1,
                f.name,
                status,
                b(f.bytes_in),
                b(f.bytes_out),
                t(f.start_s),
                t(f.first_byte_s),
                t(f.end_s),
            ));
            for n in &f.notes {
                s.push_str(&format!("     note: {n}\n"));
            }
        }
        if self.refused_handoffs > 0 {
            s.push_str(&format!(
                "  the handoff socket refused {} request(s) with a wrong token\n",
                self.refused_handoffs
            ));
        }
        for n in &self.notes {
            s.push_str(&format!("  note: {n}\n"));
        }
        if let Some(e) = &self.error {
            s.push_str(&format!("faasin: chain failed: {e}\n"));
        }
        s
    }
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
