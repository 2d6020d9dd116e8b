//! Sends `N` requests of one target through the router in process, for
//! `valgrind --tool=callgrind` (see `bench/instructions.sh`): instructions per request are
//! repeatable whatever else the machine is doing, unlike the load run's req/s.
//!
//! ```text
//! request-count --target plain|plain-token|ALG-TOKEN [--cache] [--keys=K] [--requests N]
//! ```
//!
//! `ALG` is `hs256`, `es256`, `rs256` or `eddsa`; `TOKEN` is `valid`, `badsig`, `expired`,
//! `norole`, `none`, `claims50` (50 claims) or `keycloak` (a Keycloak-shaped token, 30 claims,
//! with roles read from `realm_access` and `resource_access`). `--keys=K` trusts a set of `K`
//! keys, the signing key last. `--requests 0` does the setup (and one checked request) only, so that
//! the difference of two runs is the cost of `N` requests.

use authz_bench::{Options, algorithm, guarded_app_with, plain_router, ready, request};
use tower::ServiceExt;

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let target = arg("--target").ok_or("--target is required")?;
    let n: u64 = arg("--requests")
        .unwrap_or_else(|| "10000".to_owned())
        .parse()
        .map_err(|e| format!("--requests: {e}"))?;
    let cache = args.iter().any(|a| a == "--cache");
    let keys: usize = match args.iter().find_map(|a| a.strip_prefix("--keys=")) {
        Some(k) => k.parse().map_err(|e| format!("--keys: {e}"))?,
        None => 1,
    };
    let (app, token) = match target.as_str() {
        "plain" => (plain_router(), None),
        "plain-token" => {
            let (_, tokens) = authz_bench::keys_and_tokens(authz_axum::Algorithm::HS256)?;
            (plain_router(), Some(tokens.valid))
        }
        other => {
            let (alg, token) = other.split_once('-').ok_or("--target ALG-TOKEN")?;
            let options = Options {
                cache,
                extra_keys: keys.saturating_sub(1),
                keycloak: token == "keycloak",
            };
            let (app, tokens) = guarded_app_with(algorithm(alg)?, options)?;
            (app, tokens.get(token).map(str::to_owned))
        }
    };
    let token = token.as_deref();
    // One request outside the count: it fills the token cache, when there is one, and shows
    // the status.
    let status = ready(app.clone().oneshot(request(token)))
        .map_err(|e| e.to_string())?
        .status();
    for _ in 0..n {
        let response = ready(app.clone().oneshot(request(std::hint::black_box(token))))
            .map_err(|e| e.to_string())?;
        std::hint::black_box(response);
    }
    let bytes = token.map_or(0, str::len);
    println!("{target}: {status}, {n} requests, a token of {bytes} bytes");
    Ok(())
}
