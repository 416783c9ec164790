//! A Lambda handler in response-streaming mode under the official Rust
//! runtime client, `lambda_runtime`: it sends the event's `chunks` lines,
//! `gap_ms` apart. The conformance test runs this binary under AWS's
//! emulator and under `faasin serve`, and looks at when each line arrives.

use lambda_runtime::streaming::{channel, Body, Response};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;
use std::time::Duration;

async fn handler(event: LambdaEvent<Value>) -> Result<Response<Body>, Error> {
    let chunks = event.payload["chunks"].as_u64().unwrap_or(3);
    let gap = Duration::from_millis(event.payload["gap_ms"].as_u64().unwrap_or(0));
    let (mut tx, rx) = channel();
    tokio::spawn(async move {
        for i in 0..chunks {
            if i > 0 {
                tokio::time::sleep(gap).await;
            }
            if tx.send_data(format!("chunk {i}\n").into()).await.is_err() {
                return;
            }
        }
    });
    Ok(Response::from(rx))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(handler)).await
}
