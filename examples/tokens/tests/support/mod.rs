//! Running the built `authz` binary in a scratch folder.

#![allow(dead_code)] // each test file uses its own part

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The HMAC secret the README's examples use (32 bytes, as given).
pub(crate) const SECRET: &str = "k7#pQ9v!Lm2$Xr8^Tz4&Wb6*Ny1(Hc3)";

/// A scratch folder for one test, removed when dropped.
pub(crate) struct Scratch(pub(crate) PathBuf);

impl Scratch {
    pub(crate) fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("authz-cli-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the scratch folder");
        Self(dir)
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// Runs `authz args` here, without `AUTHZ_SECRET`.
    pub(crate) fn run(&self, args: &[&str]) -> Run {
        self.run_with(args, &[], None)
    }

    /// Runs `authz args` here with extra environment variables and standard input.
    pub(crate) fn run_with(&self, args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Run {
        let mut command = Command::new(env!("CARGO_BIN_EXE_authz"));
        command
            .args(args)
            .current_dir(&self.0)
            .env_remove("AUTHZ_SECRET")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("run authz");
        let mut input = child.stdin.take().expect("piped stdin");
        if let Some(text) = stdin {
            input.write_all(text.as_bytes()).expect("write stdin");
        }
        drop(input);
        Run::from(child.wait_with_output().expect("wait for authz"), args)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What one run printed and how it ended.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
    pub(crate) args: String,
}

impl Run {
    fn from(out: Output, args: &[&str]) -> Self {
        Self {
            code: out.status.code().expect("authz exited by a signal"),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            args: args.join(" "),
        }
    }

    /// Asserts the exit status, showing everything when it differs.
    #[track_caller]
    pub(crate) fn status(self, code: i32) -> Self {
        assert_eq!(self.code, code, "authz {}\n{self:#?}", self.args);
        self
    }

    /// Asserts success and returns standard output, trimmed.
    #[track_caller]
    pub(crate) fn ok(self) -> String {
        self.status(0).stdout.trim().to_owned()
    }

    /// Standard output as JSON.
    #[track_caller]
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|e| panic!("authz {}: not JSON ({e}): {self:#?}", self.args))
    }
}

/// The file's Unix mode bits.
#[cfg(unix)]
pub(crate) fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).expect("stat").permissions().mode() & 0o777
}
