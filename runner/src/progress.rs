//! The live lines on a terminal: one per function, redrawn in place.

use std::io::Write;

#[derive(Default)]
pub struct Progress {
    drawn: usize,
}

impl Progress {
    pub fn new() -> Progress {
        Progress { drawn: 0 }
    }

    pub fn draw(&mut self, lines: &[String]) {
        let mut err = std::io::stderr().lock();
        let mut out = String::new();
        if self.drawn > 0 {
            out.push_str(&format!("\x1b[{}A", self.drawn));
        }
        for l in lines {
            out.push_str("\r\x1b[K");
            out.push_str(l);
            out.push('\n');
        }
        let _ = err.write_all(out.as_bytes());
        let _ = err.flush();
        self.drawn = lines.len();
    }

    /// Erases the lines, so the summary follows without them.
    pub fn clear(&mut self) {
        if self.drawn > 0 {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\x1b[{}A\r\x1b[J", self.drawn);
            let _ = err.flush();
            self.drawn = 0;
        }
    }
}
