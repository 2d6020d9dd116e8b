//! `cargo run -p zen -- keyserver | server | keygen [--identity NAME] | client`

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("keyserver") => zen::keyserver::run().await,
        Some("server") => zen::server::run().await,
        Some("keygen") => {
            let identity = args
                .iter()
                .position(|a| a == "--identity")
                .and_then(|i| args.get(i + 1))
                .map_or("client", String::as_str);
            zen::keygen::run(identity)
        }
        Some("client") => zen::client::run().await,
        _ => Err("usage: zen keyserver | server | keygen [--identity NAME] | client".into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("zen: {message}");
            ExitCode::FAILURE
        }
    }
}
