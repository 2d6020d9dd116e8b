//! Runs the README's curl walk-through against the built binary, so that README and server
//! cannot drift apart.
//!
//! The `sh` block under "## curl walk-through" is read step by step: `export`s set the server's
//! environment (a `$(openssl rand …)` becomes a fixed test secret), `cargo run … &` starts the
//! binary on a free port, each `curl` becomes a reqwest call (`NAME=$(curl … | jq -r .field)`
//! keeps a field of the answer), and `kill -INT %1` stops the server, which must exit 0.
//! The `# …` lines right under a call are its expected output: with `-i`, the status line and
//! the headers shown (others are not compared), then the body. A body is compared as text;
//! one with `…` in a JSON string is compared as JSON, that string matching any text that starts
//! with what precedes the `…`. A call without `-i` must answer 2xx.

#![cfg(unix)] // the walk-through ends with a signal
#![allow(clippy::unwrap_used)] // in tests, a panic is the failure report

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Lines};
use std::iter::Peekable;
use std::process::{ChildStdout, Command, Stdio};
use std::str::Chars;
use std::time::{Duration, Instant};

use serde_json::Value;

const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");

/// The variables the server reads; the test starts it with none of them but the README's.
const SERVER_VARS: [&str; 6] = [
    "AUTHZ_SECRET",
    "HELLO_DEV",
    "HELLO_ALICE_PASSWORD",
    "HELLO_ADMIN_PASSWORD",
    "HELLO_ADDR",
    "RUST_LOG",
];

fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{MANIFEST_DIR}/{path}")).unwrap()
}

/// One command of the walk-through (continuation lines joined) and the `# ` lines under it.
#[derive(Debug)]
struct Step {
    command: String,
    output: Vec<String>,
}

fn walkthrough() -> Vec<Step> {
    let readme = read("README.md");
    let section = &readme[readme
        .find("## curl walk-through")
        .expect("the walk-through")..];
    let block = &section[section.find("```sh\n").expect("its sh block") + 6..];
    let block = &block[..block.find("```").unwrap()];
    let mut steps: Vec<Step> = Vec::new();
    let (mut command, mut open) = (String::new(), false);
    for line in block.lines() {
        if let Some(start) = line.strip_suffix('\\') {
            command.push_str(start);
            continue;
        }
        command.push_str(line);
        let line = std::mem::take(&mut command);
        match line.trim() {
            "" => open = false,
            output if output.starts_with('#') => {
                // Comment lines right under a command are its output; after a blank line, prose.
                if let Some(step) = steps.last_mut().filter(|_| open) {
                    step.output
                        .push(output.trim_start_matches('#').trim_start().to_owned());
                }
            }
            command => {
                steps.push(Step {
                    command: command.to_owned(),
                    output: Vec::new(),
                });
                open = true;
            }
        }
    }
    steps
}

/// The words of a shell command line: quotes removed, `$NAME`, `${NAME}`, `${NAME%X*}` and
/// `$(…)` (through `substitute`) expanded, a `#` word ends the line.
fn words(
    line: &str,
    vars: &HashMap<String, String>,
    substitute: &dyn Fn(&str) -> String,
) -> Vec<String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => words.extend(word.take()),
            '#' if word.is_none() => break,
            '\'' => {
                let word = word.get_or_insert_default();
                word.extend(chars.by_ref().take_while(|&c| c != '\''));
            }
            '"' => {
                let word = word.get_or_insert_default();
                loop {
                    match chars.next().expect("a closing \"") {
                        '"' => break,
                        '\\' if matches!(chars.peek(), Some('"' | '\\' | '$' | '`')) => {
                            word.push(chars.next().unwrap());
                        }
                        '$' => word.push_str(&expand(&mut chars, vars, substitute)),
                        c => word.push(c),
                    }
                }
            }
            '$' => {
                let value = expand(&mut chars, vars, substitute);
                word.get_or_insert_default().push_str(&value);
            }
            '\\' => word.get_or_insert_default().extend(chars.next()),
            c => word.get_or_insert_default().push(c),
        }
    }
    words.extend(word);
    words
}

/// What follows a `$`.
fn expand(
    chars: &mut Peekable<Chars<'_>>,
    vars: &HashMap<String, String>,
    substitute: &dyn Fn(&str) -> String,
) -> String {
    let lookup = |name: &str| {
        let value = vars.get(name);
        value
            .unwrap_or_else(|| panic!("${name} is not set by the README"))
            .clone()
    };
    match chars.peek() {
        Some('(') => {
            chars.next();
            let mut depth = 1;
            let inner: String = chars
                .by_ref()
                .take_while(|&c| {
                    depth += i32::from(c == '(') - i32::from(c == ')');
                    depth > 0
                })
                .collect();
            substitute(&inner)
        }
        Some('{') => {
            chars.next();
            let inner: String = chars.by_ref().take_while(|&c| c != '}').collect();
            match inner.split_once('%') {
                None => lookup(&inner),
                Some((name, pattern)) => {
                    // `%X*`: drop the shortest suffix that starts with X.
                    let prefix = pattern.strip_suffix('*').expect("a `%X*` pattern");
                    let value = lookup(name);
                    value
                        .rfind(prefix)
                        .map_or(value.clone(), |at| value[..at].to_owned())
                }
            }
        }
        _ => {
            let mut name = String::new();
            while let Some(c) = chars.next_if(|c| c.is_ascii_alphanumeric() || *c == '_') {
                name.push(c);
            }
            lookup(&name)
        }
    }
}

/// `$(openssl rand -base64 N)`: a fixed secret of that shape, so the server accepts it.
fn test_secret(command: &str) -> String {
    let n: usize = match command.split_whitespace().collect::<Vec<_>>()[..] {
        ["openssl", "rand", "-base64", n] => n.parse().unwrap(),
        _ => panic!("command substitution the test does not know: $({command})"),
    };
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    (0..n.div_ceil(3) * 4)
        .map(|i| char::from(alphabet[(i * 37 + 11) % 64]))
        .collect()
}

struct Server {
    child: std::process::Child,
    /// Kept open: the server must be able to write to its stdout until it exits.
    _stdout: Lines<BufReader<ChildStdout>>,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(env: &[(String, String)]) -> (Server, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hello"));
    for var in SERVER_VARS {
        command.env_remove(var);
    }
    let mut child = command
        .envs(env.iter().cloned())
        .env("HELLO_ADDR", "127.0.0.1:0") // the server prints the port it got
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let ready = stdout.next().expect("a line from the server").unwrap();
    let addr = ready
        .strip_prefix("hello listening on http://")
        .expect(&ready)
        .to_owned();
    let server = Server {
        child,
        _stdout: stdout,
        addr,
    };
    (server, ready)
}

/// A curl command line as a request.
struct Curl {
    include: bool,
    url: String,
    headers: Vec<(String, String)>,
    data: Option<String>,
}

fn parse_curl(words: &[String]) -> Curl {
    assert_eq!(words.first().map(String::as_str), Some("curl"), "{words:?}");
    let mut curl = Curl {
        include: false,
        url: String::new(),
        headers: Vec::new(),
        data: None,
    };
    let mut args = words[1..].iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-s" => {}
            "-i" | "-si" | "-is" => curl.include = true,
            "-H" => {
                let (name, value) = args.next().unwrap().split_once(':').unwrap();
                curl.headers
                    .push((name.to_owned(), value.trim_start().to_owned()));
            }
            "-d" => curl.data = Some(args.next().unwrap().clone()),
            url if !url.starts_with('-') => url.clone_into(&mut curl.url),
            other => panic!("curl option the test does not know: {other}"),
        }
    }
    curl
}

struct Reply {
    status: reqwest::StatusCode,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Curl {
    /// Sends it to `server`, for a README that talks to `readme_addr`.
    async fn send(&self, server: &Server, readme_addr: &str) -> (String, Reply) {
        let url = self.url.trim_start_matches("http://");
        let path = [
            readme_addr.to_owned(),
            readme_addr.replace("127.0.0.1", "localhost"),
        ]
        .iter()
        .find_map(|addr| url.strip_prefix(addr.as_str()))
        .unwrap_or_else(|| panic!("{url} is not the README's server ({readme_addr})"))
        .to_owned();
        let client = reqwest::Client::new();
        let url = format!("http://{}{path}", server.addr);
        let mut request = match &self.data {
            Some(data) => client.post(url).body(data.clone()),
            None => client.get(url),
        };
        let has_type = self
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("content-type"));
        if self.data.is_some() && !has_type {
            request = request.header("content-type", "application/x-www-form-urlencoded");
        }
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        let response = request.send().await.unwrap();
        let (status, headers) = (response.status(), response.headers().clone());
        let body = response.text().await.unwrap();
        (
            path,
            Reply {
                status,
                headers,
                body,
            },
        )
    }
}

/// `expected` with `…` at the end of a string matches any string with that beginning.
fn matches(expected: &Value, actual: &Value) -> bool {
    match (expected, actual) {
        (Value::String(e), Value::String(a)) => match e.strip_suffix('…') {
            Some(prefix) => a.starts_with(prefix),
            None => e == a,
        },
        (Value::Object(e), Value::Object(a)) => {
            e.len() == a.len()
                && e.iter()
                    .all(|(k, v)| a.get(k).is_some_and(|a| matches(v, a)))
        }
        (Value::Array(e), Value::Array(a)) => {
            e.len() == a.len() && e.iter().zip(a).all(|(e, a)| matches(e, a))
        }
        (e, a) => e == a,
    }
}

/// Checks `reply` against the lines the README shows under the call.
fn check(step: &Step, curl: &Curl, reply: &Reply) {
    let mut expected = step.output.iter().peekable();
    let mut challenge_shown = false;
    if curl.include {
        let status = expected.next().expect("a `curl -i` shows its status line");
        let shown = format!(
            "HTTP/1.1 {} {}",
            reply.status.as_u16(),
            reply.status.canonical_reason().unwrap()
        );
        assert_eq!(status, &shown, "{}", step.command);
        let is_header = |line: &&String| {
            line.split_once(": ").is_some_and(|(name, _)| {
                !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            })
        };
        while let Some(line) = expected.next_if(is_header) {
            let (name, value) = line.split_once(": ").unwrap();
            let actual = reply.headers.get(name).map(|v| v.to_str().unwrap());
            assert_eq!(actual, Some(value), "{}: header {name}", step.command);
            challenge_shown |= name.eq_ignore_ascii_case("www-authenticate");
        }
    } else {
        assert!(
            reply.status.is_success(),
            "{}: {}",
            step.command,
            reply.status
        );
    }
    if reply.status == reqwest::StatusCode::UNAUTHORIZED {
        assert!(
            challenge_shown,
            "{}: show the 401's WWW-Authenticate",
            step.command
        );
    }
    let body: Vec<&str> = expected.map(String::as_str).collect();
    let body = body.join("\n");
    if body.contains('…') {
        let (e, a) = (
            serde_json::from_str(&body),
            serde_json::from_str(&reply.body),
        );
        assert!(
            matches(&e.unwrap(), &a.unwrap()),
            "{}: {}",
            step.command,
            reply.body
        );
    } else {
        assert_eq!(reply.body, body, "{}", step.command);
    }
}

#[tokio::test]
async fn readme_walkthrough() {
    let steps = walkthrough();
    let mut vars = HashMap::new();
    let mut env = Vec::new();
    let mut server: Option<(Server, String)> = None;
    let mut seen = Vec::new();
    for step in &steps {
        let command = step.command.as_str();
        if let Some(assignments) = command.strip_prefix("export ") {
            for word in words(assignments, &vars, &test_secret) {
                let (name, value) = word.split_once('=').unwrap();
                vars.insert(name.to_owned(), value.to_owned());
                env.push((name.to_owned(), value.to_owned()));
            }
        } else if command.starts_with("cargo run") {
            assert!(
                command.ends_with('&'),
                "the server runs in the background: {command}"
            );
            let (started, ready) = start(&env);
            let [shown] = &step.output[..] else {
                panic!("show the server's `listening` line under `{command}`");
            };
            let readme_addr = shown
                .strip_prefix("hello listening on http://")
                .expect(shown);
            assert_eq!(ready.replace(&started.addr, readme_addr), *shown);
            server = Some((started, readme_addr.to_owned()));
        } else if command.starts_with("kill") {
            let (mut server, _) = server.take().expect("a server to stop");
            assert_eq!(words(command, &vars, &test_secret), ["kill", "-INT", "%1"]);
            let pid = server.child.id().to_string();
            assert!(
                Command::new("kill")
                    .args(["-INT", &pid])
                    .status()
                    .unwrap()
                    .success()
            );
            let deadline = Instant::now() + Duration::from_secs(10);
            let status = loop {
                if let Some(status) = server.child.try_wait().unwrap() {
                    break status;
                }
                assert!(Instant::now() < deadline, "no exit 10 s after ctrl-c");
                std::thread::sleep(Duration::from_millis(20));
            };
            assert!(status.success(), "graceful shutdown exits 0: {status}");
        } else {
            let (server, readme_addr) = server.as_ref().expect("`cargo run` before the calls");
            let (keep, line) = match command.split_once("=$(") {
                Some((name, call)) => (Some(name), call.strip_suffix(')').unwrap()),
                None => (None, command),
            };
            let (call, filter) = match line.rsplit_once(" | ") {
                Some((call, filter)) => (call, Some(filter)),
                None => (line, None),
            };
            let curl = parse_curl(&words(call, &vars, &test_secret));
            let (path, reply) = curl.send(server, readme_addr).await;
            match (keep, filter) {
                (Some(name), Some(filter)) => {
                    let field = match words(filter, &vars, &test_secret).as_slice() {
                        [jq, r, field] if jq == "jq" && r == "-r" => field.clone(),
                        other => panic!("a filter the test does not know: {other:?}"),
                    };
                    assert!(reply.status.is_success(), "{command}: {}", reply.status);
                    assert!(step.output.is_empty(), "{command} prints nothing");
                    let body: Value = serde_json::from_str(&reply.body).unwrap();
                    let value = body
                        .pointer(&field.replace('.', "/"))
                        .and_then(Value::as_str);
                    vars.insert(name.to_owned(), value.unwrap().to_owned());
                }
                (None, None) => check(step, &curl, &reply),
                _ => panic!("a step the test does not know: {command}"),
            }
            seen.push((path, reply.status.as_u16(), reply.body));
        }
    }
    assert!(server.is_none(), "the walk-through stops its server");
    // What the walk-through is for: each answer of a guarded app, shown at least once.
    for (path, status, code) in [
        ("/me", 200, ""),
        ("/admin", 403, r#""code":"insufficient_scope""#),
        ("/admin", 200, ""),
        ("/me", 401, r#""code":"missing_token""#),
        ("/me", 401, r#""code":"invalid_signature""#),
    ] {
        assert!(
            seen.iter()
                .any(|(p, s, b)| p == path && *s == status && b.contains(code)),
            "the README no longer shows {path} → {status} {code}"
        );
    }
}

#[test]
fn refuses_to_start_without_a_strong_secret() {
    // Unset, short, one repeated byte (a well-known kind of secret).
    let repeated = "x".repeat(32);
    for secret in [None, Some("too-short"), Some(repeated.as_str())] {
        let mut command = Command::new(env!("CARGO_BIN_EXE_hello"));
        for var in SERVER_VARS {
            command.env_remove(var);
        }
        if let Some(secret) = secret {
            command.env("AUTHZ_SECRET", secret);
        }
        let mut child = command
            .env("HELLO_ADDR", "127.0.0.1:0")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // A server that starts prints its `listening` line; one that refuses, nothing.
        let mut listening = String::new();
        let stdout = child.stdout.take().unwrap();
        BufReader::new(stdout).read_line(&mut listening).unwrap();
        if !listening.is_empty() {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{secret:?} accepted: {listening}");
        }
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{secret:?}: {}", output.status);
        let says = ["AUTHZ_SECRET", "openssl rand -base64 48"];
        assert!(
            says.iter().all(|s| stderr.contains(s)),
            "{secret:?}: {stderr}"
        );
    }
}

/// The root README's "Use authz in your app" shows this app: its `main.rs` verbatim and its
/// dependency lines.
#[test]
fn root_readme_shows_this_app() {
    let root = read("../../README.md");
    let at = root
        .find("## Use authz in your app")
        .expect("the root README has a \"Use authz in your app\" section");
    let section = &root[at..];
    let section = &section[..section[3..]
        .find("\n## ")
        .map_or(section.len(), |end| end + 3)];
    assert!(
        section.contains(&read("src/main.rs")),
        "main.rs differs from the README's"
    );
    let manifest = read("Cargo.toml");
    let dependencies = manifest.split("[dependencies]\n").nth(1).unwrap();
    for line in dependencies.lines().take_while(|l| !l.starts_with('[')) {
        if !line.is_empty() && !line.starts_with("authz-axum") {
            assert!(section.contains(line), "the README lacks `{line}`");
        }
    }
}
