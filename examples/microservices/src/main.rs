//! `cargo run -p microservices`: the issuer on 127.0.0.1:8001, the resource on 127.0.0.1:8002.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match microservices::Config::from_env() {
        Ok(config) => microservices::run(config).await,
        Err(error) => Err(error),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("microservices: {message}");
            ExitCode::FAILURE
        }
    }
}
