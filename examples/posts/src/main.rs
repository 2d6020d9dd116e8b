//! `cargo run -p posts`: serves on `AUTHZ_ADDR` (default 127.0.0.1:8000), with users and
//! posts in `posts.db` (or `DATABASE_URL`).

use std::process::ExitCode;

use authz_axum::serve::{ServeOptions, serve};
use posts::Config;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,authz_axum=debug".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("posts: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), String> {
    let config = Config::from_env()?;
    let app = posts::app(&config).await?;
    let listener = tokio::net::TcpListener::bind(&config.addr)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.addr))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    println!(
        "posts listening on http://{addr} ({})",
        config.database_kind()
    );
    // Header-read timeout, connection cap, graceful shutdown, the client's address.
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    serve(listener, app, ServeOptions::default(), shutdown)
        .await
        .map_err(|e| e.to_string())
}
