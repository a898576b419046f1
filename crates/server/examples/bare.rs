//! The benchmark baseline: a bare axum server with one route that returns a small JSON envelope.
//!
//! `bench/run.sh` measures tlink's routes against this to see what the API adds on top of axum and
//! the runtime. Usage: `bare [ADDR]` (default `127.0.0.1:8090`); `GET /` answers
//! `{"success":true,"data":{"status":"ok"}}`.

use anyhow::Context;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

#[derive(Serialize)]
struct Envelope {
    success: bool,
    data: Status,
}

#[derive(Serialize)]
struct Status {
    status: &'static str,
}

async fn status() -> Json<Envelope> {
    Json(Envelope { success: true, data: Status { status: "ok" } })
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:8090".to_string());
    let listener = tokio::net::TcpListener::bind(&addr).await.with_context(|| format!("binding {addr}"))?;
    eprintln!("bare listening on {}", listener.local_addr()?);
    let app = Router::new().route("/", get(status));
    axum::serve(listener, app).await?;
    Ok(())
}
