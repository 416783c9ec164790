//! What a chain is made of: functions, how each runs, and the streams
//! between them. Built from inline commands here, or from a chain file
//! (`chain_file`).

use std::collections::BTreeMap;

/// How a function is started.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// `/bin/sh -c STRING`.
    Shell(String),
    /// An argv, executed directly.
    Argv(Vec<String>),
}

impl Command {
    /// A short human form for summaries and the report.
    pub fn display(&self) -> String {
        match self {
            Command::Shell(s) => s.clone(),
            Command::Argv(v) => v.join(" "),
        }
    }

    /// The argv that runs it (the shell form goes through `/bin/sh -c`).
    pub fn argv(&self) -> Vec<String> {
        match self {
            Command::Shell(s) => vec!["/bin/sh".into(), "-c".into(), s.clone()],
            Command::Argv(v) => v.clone(),
        }
    }
}

/// One function of the chain.
#[derive(Debug, Clone)]
pub struct Function {
    pub name: String,
    pub command: Command,
    /// `Some(image)`: runs in a Docker container of that image.
    pub image: Option<String>,
    pub env: BTreeMap<String, String>,
    /// A program that knows nothing of FAASIN: stdin/stdout are wired to the
    /// neighbouring rings through the runner.
    pub stdio: bool,
    /// A process that receives its ends through the handoff socket
    /// (`FAASIN_SOCKET`) instead of inheriting them, as a container does.
    pub handoff: bool,
    /// Capacity of the ring this function writes into (its faasout).
    pub capacity: usize,
    /// A container's memory limit, as `docker run --memory` takes it.
    pub memory: Option<String>,
}

/// A whole chain.
#[derive(Debug, Clone)]
pub struct Chain {
    pub functions: Vec<Function>,
}

impl Chain {
    /// What edge `i` (0..=len) connects, as the report names it: edge 0
    /// comes from the runner's input, the last goes to its output.
    pub fn edge_ends(&self, i: usize) -> (String, String) {
        let name = |j: usize| self.functions[j].name.clone();
        let from = if i == 0 { "input".into() } else { name(i - 1) };
        let to = if i == self.functions.len() {
            "output".into()
        } else {
            name(i)
        };
        (from, to)
    }
}

pub const STDIO_PREFIX: &str = "@stdio:";

/// Builds a chain from inline shell commands. A command starting with
/// `@stdio:` (or whose 1-based position is in `stdio`) is a plain stdin/stdout
/// program.
pub fn from_inline(cmds: &[String], stdio: &[usize], capacity: usize) -> Result<Chain, String> {
    if cmds.is_empty() {
        return Err(
            "no function given: `faasin run 'cmd A' 'cmd B' ...` or `faasin run -f chain.toml`"
                .into(),
        );
    }
    for &n in stdio {
        if n == 0 || n > cmds.len() {
            return Err(format!(
                "--stdio {n}: there are functions 1 to {} only",
                cmds.len()
            ));
        }
    }
    let mut functions = Vec::new();
    for (i, raw) in cmds.iter().enumerate() {
        let (cmd, prefixed) = match raw.strip_prefix(STDIO_PREFIX) {
            Some(rest) => (rest.trim_start(), true),
            None => (raw.as_str(), false),
        };
        if cmd.trim().is_empty() {
            return Err(format!("function {} is an empty command", i + 1));
        }
        functions.push(Function {
            name: default_name(cmd),
            command: Command::Shell(cmd.to_string()),
            image: None,
            env: BTreeMap::new(),
            stdio: prefixed || stdio.contains(&(i + 1)),
            handoff: false,
            capacity,
            memory: None,
        });
    }
    dedupe_names(&mut functions);
    Ok(Chain { functions })
}

/// The first word of a shell command, without its directory and without
/// the quotes around a quoted path (`'/usr/bin/java' -cp ...` is `java`).
pub(crate) fn default_name(cmd: &str) -> String {
    let word = cmd.split_whitespace().next().unwrap_or("f");
    let word = word.trim_matches(|c| c == '\'' || c == '"');
    word.rsplit('/').next().unwrap_or(word).to_string()
}

fn dedupe_names(functions: &mut [Function]) {
    let names: Vec<String> = functions.iter().map(|f| f.name.clone()).collect();
    for (i, f) in functions.iter_mut().enumerate() {
        if names.iter().filter(|n| **n == names[i]).count() > 1 {
            f.name = format!("{}#{}", names[i], i + 1);
        }
    }
}

/// The ring rules of core, said in the chain's words.
pub fn check_capacity(capacity: usize) -> Result<(), String> {
    if !capacity.is_power_of_two()
        || !(faasin::MIN_CAPACITY..=faasin::MAX_CAPACITY).contains(&capacity)
    {
        return Err(format!(
            "capacity {capacity} must be a power of two between {} and {}",
            faasin::MIN_CAPACITY,
            faasin::MAX_CAPACITY
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quoted_program_path_names_the_program() {
        assert_eq!(default_name("'/usr/lib/jvm/bin/java' -cp x Main"), "java");
        assert_eq!(default_name("\"/opt/x/fn\" a"), "fn");
        assert_eq!(default_name("cat"), "cat");
    }

    #[test]
    fn inline_names_prefix_and_flags() {
        let c = from_inline(
            &[
                "peer write 10".into(),
                "@stdio: sort".into(),
                "peer read".into(),
            ],
            &[3],
            4096,
        )
        .unwrap();
        let names: Vec<_> = c.functions.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["peer#1", "sort", "peer#3"]);
        assert!(!c.functions[0].stdio && c.functions[1].stdio && c.functions[2].stdio);
        assert_eq!(c.functions[1].command, Command::Shell("sort".into()));
        assert!(from_inline(&["a".into()], &[2], 4096).is_err());
    }

    #[test]
    fn edges_run_from_input_through_each_function_to_output() {
        let c = from_inline(&["a".into(), "b".into()], &[], 4096).unwrap();
        let ends: Vec<_> = (0..=2).map(|i| c.edge_ends(i)).collect();
        let (a, b) = (c.functions[0].name.clone(), c.functions[1].name.clone());
        assert_eq!(
            ends,
            [
                ("input".to_string(), a.clone()),
                (a, b.clone()),
                (b, "output".to_string())
            ]
        );
    }
}
