// Shared by the build scripts of the crates whose tests need a service or a tool (`include!`d
// by `tests/build.rs`, `examples/posts/build.rs`, `examples/zen/build.rs`).
//
// libtest has no run-time skip: a test that returns early is reported as passed. So the
// build script looks for each service and tool and sets a cfg; a test that needs one carries
// `#[cfg_attr(not(authz_postgres), ignore = "needs PostgreSQL: …")]`, and cargo reports it as
// *ignored*, with the reason, when the service is missing — never as passed. With
// `AUTHZ_REQUIRE_SERVICES=1` / `AUTHZ_REQUIRE_PYJWT=1` (as `.ci/run` sets), a missing service or
// tool fails the build instead.
//
// | cfg | set when |
// | --- | --- |
// | `authz_postgres` | `AUTHZ_TEST_POSTGRES_URL` is set |
// | `authz_redis` | `AUTHZ_TEST_REDIS_URL` is set |
// | `authz_redis_server` | `redis-server` is on `PATH` (tests that start their own) |
// | `authz_pyjwt` | `python3` imports `jwt` (PyJWT 2.10 or later) and `cryptography` |
// | `authz_py_requests` | `python3` imports `requests` |
// | `authz_faults` | `AUTHZ_FAULTS=1` (the slow fault-injection suite; needs PostgreSQL's server binaries and `redis-server`) |
// | `authz_chromium` | `chromium` and `chromedriver` run (`scripts/browser-deps` installs them); required with `AUTHZ_REQUIRE_BROWSER=1` |

use std::process::{Command, Stdio};

const CFGS: [&str; 7] = [
    "authz_chromium",
    "authz_postgres",
    "authz_redis",
    "authz_redis_server",
    "authz_pyjwt",
    "authz_py_requests",
    "authz_faults",
];

#[allow(dead_code)]
fn required(var: &str) -> bool {
    std::env::var(var).is_ok_and(|value| value == "1")
}

#[allow(dead_code)]
fn found(cfg: &str) {
    println!("cargo::rustc-cfg={cfg}");
}

/// A service named by an environment variable (`scripts/services` prints them).
#[allow(dead_code)]
fn probe_service(var: &str, cfg: &str) {
    println!("cargo::rerun-if-env-changed={var}");
    if std::env::var(var).is_ok_and(|url| !url.is_empty()) {
        found(cfg);
    } else if required("AUTHZ_REQUIRE_SERVICES") {
        panic!("{var} is not set but AUTHZ_REQUIRE_SERVICES=1 (./scripts/services prints it)");
    }
}

/// Whether `python3` can import `modules` (comma separated). PyJWT must be 2.10 or later (what
/// `.ci/run` installs; older ones lack APIs the tests use, e.g. `jwt.decode_complete`).
#[allow(dead_code)]
fn probe_python(modules: &str, cfg: &str, require_var: &str) {
    let mut code = format!("import {modules}");
    if modules.split(',').any(|m| m.trim() == "jwt") {
        code.push_str("\nassert tuple(int(x) for x in jwt.__version__.split('.')[:2]) >= (2, 10)");
    }
    let ok = Command::new("python3")
        .args(["-c", &code])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if ok {
        found(cfg);
    } else if required(require_var) {
        panic!("python3 cannot import {modules} (PyJWT 2.10 or later) but {require_var}=1");
    }
}

/// Whether `program` runs (`program --version`).
#[allow(dead_code)]
fn probe_program(program: &str, cfg: &str) {
    let ok = Command::new(program)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if ok {
        found(cfg);
    } else if required("AUTHZ_REQUIRE_SERVICES") {
        panic!("{program} is not on PATH but AUTHZ_REQUIRE_SERVICES=1");
    }
}

/// The fault-injection suite, on request (`AUTHZ_FAULTS=1`): it needs PostgreSQL's server
/// binaries and `redis-server`.
#[allow(dead_code)]
fn probe_faults() {
    println!("cargo::rerun-if-env-changed=AUTHZ_FAULTS");
    if !required("AUTHZ_FAULTS") {
        return;
    }
    let initdb = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| entries.flatten().any(|e| e.path().join("bin/initdb").exists()))
        .unwrap_or(false)
        || std::env::var_os("AUTHZ_PG_BIN").is_some();
    let redis = Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if initdb && redis {
        found("authz_faults");
    } else {
        panic!("AUTHZ_FAULTS=1 but PostgreSQL's server binaries or redis-server are missing");
    }
}

/// Headless Chromium and its WebDriver, for the real-browser test: `chromium` and
/// `chromedriver` on `PATH` (Debian's packages; `scripts/browser-deps`). With
/// `AUTHZ_REQUIRE_BROWSER=1`, missing is a build failure.
#[allow(dead_code)]
fn probe_browser() {
    println!("cargo::rerun-if-env-changed=AUTHZ_REQUIRE_BROWSER");
    let runs = |program: &str| {
        Command::new(program)
            .arg("--version")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    };
    if runs("chromium") && runs("chromedriver") {
        found("authz_chromium");
    } else if required("AUTHZ_REQUIRE_BROWSER") {
        panic!("chromium or chromedriver is missing but AUTHZ_REQUIRE_BROWSER=1 (scripts/browser-deps installs them)");
    }
}

/// Python packages installed later must be seen: watch the interpreter's package folders.
#[allow(dead_code)]
fn watch_python() {
    let out = Command::new("python3")
        .args([
            "-c",
            "import site, sysconfig; print(sysconfig.get_paths()['purelib']); print(site.getusersitepackages())",
        ])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output();
    if let Ok(out) = out {
        for dir in String::from_utf8_lossy(&out.stdout).lines() {
            if std::path::Path::new(dir).is_dir() {
                println!("cargo::rerun-if-changed={dir}");
            }
        }
    }
}

/// Declares every cfg (so that none is "unexpected") and reruns when the environment changes.
#[allow(dead_code)]
fn probe_setup() {
    for cfg in CFGS {
        println!("cargo::rustc-check-cfg=cfg({cfg})");
    }
    for var in [
        "PATH",
        "VIRTUAL_ENV",
        "AUTHZ_REQUIRE_SERVICES",
        "AUTHZ_REQUIRE_PYJWT",
    ] {
        println!("cargo::rerun-if-env-changed={var}");
    }
    println!("cargo::rerun-if-changed=build.rs");
}
