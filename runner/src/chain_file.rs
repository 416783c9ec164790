//! Chain files (TOML): a `[[function]]` table per function, in chain order.
//! Errors name the file, the line and what is wrong; a file that does not
//! parse changes nothing.

use crate::chain::{check_capacity, default_name, Chain, Command, Function};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSpec {
    /// Default ring capacity for every edge.
    capacity: Option<usize>,
    #[serde(default)]
    function: Vec<toml::Spanned<FunctionSpec>>,
}

/// A `command` as written: a string run by `/bin/sh -c`, or an argv.
#[derive(Deserialize)]
#[serde(untagged)]
pub enum CommandSpec {
    Shell(String),
    Argv(Vec<String>),
}

impl CommandSpec {
    /// The command, checked: neither may be empty.
    pub fn check(spec: Option<CommandSpec>) -> Result<Command, String> {
        match spec {
            Some(CommandSpec::Shell(s)) if s.trim().is_empty() => Err("`command` is empty".into()),
            Some(CommandSpec::Shell(s)) => Ok(Command::Shell(s)),
            Some(CommandSpec::Argv(v)) if v.first().map_or(true, String::is_empty) => {
                Err("`command` is an empty array".into())
            }
            Some(CommandSpec::Argv(v)) => Ok(Command::Argv(v)),
            None => Err("no `command` (a string run by /bin/sh -c, or an argv array)".into()),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FunctionSpec {
    name: Option<String>,
    command: Option<CommandSpec>,
    image: Option<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    stdio: bool,
    #[serde(default)]
    handoff: bool,
    capacity: Option<usize>,
    memory: Option<String>,
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.len() - before.rfind('\n').map_or(0, |p| p + 1) + 1;
    (line, col)
}

/// Reads and checks a chain file.
pub fn from_file(path: &Path, default_capacity: usize) -> Result<Chain, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read chain file {}: {e}", path.display()))?;
    parse(&text, &path.display().to_string(), default_capacity)
}

/// Parses chain-file text; `origin` names it in errors.
pub fn parse(text: &str, origin: &str, default_capacity: usize) -> Result<Chain, String> {
    let spec: FileSpec = toml::from_str(text).map_err(|e| {
        let msg = e.message().trim().to_string();
        match e.span() {
            Some(span) => {
                let (line, col) = line_col(text, span.start);
                format!("{origin}:{line}:{col}: {msg}")
            }
            None => format!("{origin}: {msg}"),
        }
    })?;
    if spec.function.is_empty() {
        return Err(format!(
            "{origin}: no function: add at least one [[function]] table with a `command`"
        ));
    }
    let default_capacity = spec.capacity.unwrap_or(default_capacity);
    let mut functions = Vec::new();
    for (i, spanned) in spec.function.into_iter().enumerate() {
        let (line, _) = line_col(text, spanned.span().start);
        let at = |what: String| format!("{origin}:{line}: function {}: {what}", i + 1);
        functions.push(function(spanned.into_inner(), default_capacity).map_err(at)?);
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(f) = functions.iter().find(|f| !seen.insert(f.name.as_str())) {
        return Err(format!(
            "{origin}: two functions are named {:?}; names must be unique",
            f.name
        ));
    }
    check_capacity(default_capacity).map_err(|e| format!("{origin}: {e}"))?;
    Ok(Chain { functions })
}

/// One `[[function]]` table, checked.
fn function(f: FunctionSpec, default_capacity: usize) -> Result<Function, String> {
    let command = CommandSpec::check(f.command)?;
    if f.image.as_deref().is_some_and(|s| s.trim().is_empty()) {
        return Err("`image` is empty".into());
    }
    if f.memory.is_some() && f.image.is_none() {
        return Err("`memory` limits a container; this function has no `image`".into());
    }
    if f.image.is_some() && f.handoff {
        return Err(
            "`handoff` is for processes; a container always gets its ends through the handoff socket"
                .into(),
        );
    }
    if f.stdio && f.handoff {
        return Err(
            "`stdio` and `handoff` exclude each other: a stdio function has no FAASIN ends".into(),
        );
    }
    let capacity = f.capacity.unwrap_or(default_capacity);
    check_capacity(capacity)?;
    let name = match f.name {
        Some(n) if n.trim().is_empty() => return Err("`name` is empty".into()),
        Some(n) => n,
        None => match &command {
            Command::Shell(s) => default_name(s),
            Command::Argv(v) => default_name(&v[0]),
        },
    };
    Ok(Function {
        name,
        command,
        image: f.image,
        env: f.env,
        stdio: f.stdio,
        handoff: f.handoff,
        capacity,
        memory: f.memory,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_errors_name_the_line() {
        let cases = [
            ("[[function]]\nname = \"a\"\ncommand = 3\n", "c.toml:3:", ""),
            (
                "[[function]]\ncommand = \"a\"\n\n[[function]]\nname = \"b\"\n",
                "c.toml:4: function 2: no `command`",
                "",
            ),
            (
                "[[function]]\ncommand = \"a\"\ncapacity = 1000\n",
                "c.toml:1: function 1:",
                "power of two",
            ),
            ("[[function]]\ncomand = \"a\"\n", "c.toml:2:", "comand"),
        ];
        for (text, starts, contains) in cases {
            let e = parse(text, "c.toml", 4096).unwrap_err();
            assert!(e.starts_with(starts) && e.contains(contains), "{e}");
        }
    }

    #[test]
    fn file_with_container_and_argv() {
        let c = parse(
            "capacity = 65536\n[[function]]\ncommand = [\"/bin/peer\", \"write\", \"5\"]\nimage = \"img\"\nenv = { A = \"1\" }\n",
            "c.toml",
            4096,
        )
        .unwrap();
        let f = &c.functions[0];
        assert_eq!(f.name, "peer");
        assert_eq!(f.image.as_deref(), Some("img"));
        assert_eq!(f.capacity, 65536);
        assert_eq!(f.env["A"], "1");
    }

    #[test]
    fn duplicate_names_are_refused() {
        let e = parse(
            "[[function]]\nname = \"a\"\ncommand = \"x\"\n[[function]]\nname = \"a\"\ncommand = \"y\"\n",
            "c.toml",
            4096,
        )
        .unwrap_err();
        assert!(e.contains("two functions are named \"a\""), "{e}");
    }
}
