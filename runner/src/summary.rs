//! The human summaries on stderr: a headline, a line per function with its
//! status, bytes, times and return value, and what went wrong.

use crate::report::{human_bytes, status_text, FunctionReport, Report, WarmReport};

impl Report {
    /// The human summary of a one-shot run.
    pub fn summary(&self) -> String {
        let mut s = self.headline();
        s.push_str(&format!(
            "  {:>2} {:<14} {:<18} {:>10} {:>10} {:>7} {:>7} {:>7}  return value\n",
            "#", "function", "status", "in", "out", "start", "1st out", "end"
        ));
        for (i, f) in self.functions.iter().enumerate() {
            s.push_str(&function_line(i, f));
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

    fn headline(&self) -> String {
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
        let over = match self.transport.as_str() {
            "faasin" => "FAASIN rings",
            "redis" => "Redis (store and forward)",
            "file" => "files (store and forward)",
            "payload" => "payloads held by the runner (store and forward)",
            _ => "OS pipes",
        };
        format!(
            "faasin: {} function(s) over {over} in {:.3} s: {verdict}; input {}, output {}{rate}\n",
            self.functions.len(),
            self.elapsed_s,
            human_bytes(self.input_bytes),
            human_bytes(self.output_bytes),
        )
    }
}

fn function_line(i: usize, f: &FunctionReport) -> String {
    let t = |v: Option<f64>| v.map_or("-".to_string(), |x| format!("{x:.3}"));
    let b = |v: Option<u64>| v.map_or("?".to_string(), human_bytes);
    let status = match (&f.error, f.exit_code, f.signal) {
        (Some(_), _, _) => "not started".to_string(),
        (None, None, Some(sig)) => {
            let name = crate::signals::name(sig);
            let short = name.split(['(', ')']).nth(1).unwrap_or(&name).to_string();
            format!("killed: {short}")
        }
        (None, code, sig) => status_text(code, sig),
    };
    let ret = match &f.return_value {
        None if f.stdio => "(stdio: stdout is the stream)".to_string(),
        None => "-".to_string(),
        Some(v) => v.to_string(),
    };
    format!(
        "  {:>2} {:<14} {:<18} {:>10} {:>10} {:>7} {:>7} {:>7}  {}\n",
        i + 1,
        f.name,
        status,
        b(f.bytes_in),
        b(f.bytes_out),
        t(f.start_s),
        t(f.first_byte_s),
        t(f.end_s),
        shortened(ret, 60),
    )
}

/// `s` cut to at most `max` bytes on a character boundary, with "..." where cut.
fn shortened(s: String, max: usize) -> String {
    if s.len() <= max {
        return s;
    }
    let cut = (0..=max - 3)
        .rev()
        .find(|&i| s.is_char_boundary(i))
        .unwrap_or(0);
    format!("{}...", &s[..cut])
}

impl WarmReport {
    /// The human summary of a warm run: the invocations' median and range.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let mut times: Vec<f64> = self.invocations.iter().map(|i| i.elapsed_s).collect();
        times.sort_by(f64::total_cmp);
        if let (Some(lo), Some(hi)) = (times.first(), times.last()) {
            s.push_str(&format!(
                "faasin: {} warm invocations over {}: median {:.2} ms ({:.2}-{:.2})\n",
                times.len(),
                self.transport,
                times[times.len() / 2] * 1e3,
                lo * 1e3,
                hi * 1e3
            ));
        }
        if let Some(e) = &self.error {
            s.push_str(&format!("faasin: FAILED: {e}\n"));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_values_are_cut_on_a_character_boundary() {
        assert_eq!(shortened("short".into(), 60), "short");
        let long = "é".repeat(40);
        let cut = shortened(long, 60);
        assert!(cut.ends_with("...") && cut.len() <= 60, "{cut}");
    }
}
