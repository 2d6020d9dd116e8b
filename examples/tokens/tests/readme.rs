//! Runs the `sh` blocks that show `authz` in the READMEs — the walk-through of
//! `examples/tokens/README.md` and the "Command line" section of the root README — with the
//! built binary first on `PATH`, in a scratch folder, so that docs and command cannot drift
//! apart.
//!
//! The block runs as one `bash` script (standard error merged into standard output, no
//! `AUTHZ_SECRET` inherited). The `# ` lines right under a command are the output it must
//! print, line by line; `…` in them stands for any text (a kid, a date, a duration). A line
//! that is only `#` is an empty line of output. A comment after a command on its own line
//! is the shell's, not output.

#![cfg(unix)] // bash
#![allow(clippy::unwrap_used)] // in tests, a panic is the failure report

mod support;

use std::path::Path;
use std::process::Command;

use support::Scratch;

/// The first `sh` block after `heading` in the README at `path` (relative to this package).
fn block(path: &str, heading: &str) -> String {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path))
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    let section = &readme[readme
        .find(heading)
        .unwrap_or_else(|| panic!("{path}: no {heading:?}"))..];
    let start = section.find("```sh\n").expect("an sh block") + 6;
    let body = &section[start..];
    body[..body.find("```").expect("the block's end")].to_owned()
}

/// The commands of a block, as a script, and the output its `# ` lines promise.
fn split(block: &str) -> (String, Vec<String>) {
    let (mut script, mut expected) = (String::from("exec 2>&1\n"), Vec::new());
    let mut after_command = false;
    for line in block.lines() {
        match line.strip_prefix('#') {
            Some(output) if after_command => {
                expected.push(output.strip_prefix(' ').unwrap_or(output).to_owned());
            }
            Some(_) => {}
            None => {
                after_command = !line.trim().is_empty();
                script.push_str(line);
                script.push('\n');
            }
        }
    }
    (script, expected)
}

/// Whether `line` matches `pattern`, where `…` stands for any text.
fn matches(pattern: &str, line: &str) -> bool {
    let pieces: Vec<&str> = pattern.split('…').collect();
    let [first, middle @ .., last] = pieces.as_slice() else {
        return pattern == line;
    };
    let Some(mut rest) = line.strip_prefix(first) else {
        return false;
    };
    for piece in middle {
        match rest.find(piece) {
            Some(at) => rest = &rest[at + piece.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

fn run(path: &str, heading: &str, name: &str) {
    let (script, expected) = split(&block(path, heading));
    let dir = Scratch::new(name);
    let bin = Path::new(env!("CARGO_BIN_EXE_authz")).parent().unwrap();
    let path_var = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("bash")
        .args(["-c", &script])
        .current_dir(&dir.0)
        .env("PATH", path_var)
        .env_remove("AUTHZ_SECRET")
        .output()
        .expect("run bash");
    let text = String::from_utf8_lossy(&out.stdout);
    let actual: Vec<&str> = text.lines().collect();
    let mismatch =
        actual.len() != expected.len() || expected.iter().zip(&actual).any(|(e, a)| !matches(e, a));
    if mismatch {
        let mut report = String::new();
        for i in 0..actual.len().max(expected.len()) {
            let e = expected.get(i).map_or("<nothing>", String::as_str);
            let a = actual.get(i).copied().unwrap_or("<nothing>");
            let mark = if matches(e, a) { " " } else { "!" };
            report.push_str(&format!("{mark} expected: {e}\n  printed:  {a}\n"));
        }
        panic!("{path} {heading}: the output differs from the README\n{report}");
    }
    assert!(out.status.success(), "{path}: the block failed: {text}");
}

#[test]
fn walkthrough_of_the_tokens_readme() {
    run("README.md", "## Walk-through", "readme-tokens");
}

#[test]
fn command_line_section_of_the_root_readme() {
    run("../../README.md", "## Command line", "readme-root");
}

#[test]
fn pattern_matching() {
    assert!(matches("a … c", "a b c"));
    assert!(matches("kid …", "kid xyz"));
    assert!(matches("…", "anything"));
    assert!(matches("exact", "exact"));
    assert!(!matches("exact", "exact!"));
    assert!(!matches("a…b…c", "a c b"));
    assert!(!matches("ab…ba", "aba"));
}
