//! Lambda's response streaming: `count` lines, one at a time. The client
//! sends a metadata prelude first (`application/vnd.awslambda.http-integration-response`),
//! which the host strips.

use lambda_runtime::streaming::{channel, Body, Response};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;
use std::time::Duration;

async fn handler(event: LambdaEvent<Value>) -> Result<Response<Body>, Error> {
    let count = event.payload["count"].as_u64().unwrap_or(0);
    let (mut tx, rx) = channel();
    tokio::spawn(async move {
        for i in 0..count {
            if tx.send_data(format!("line {i}\n").into()).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    Ok(Response::from(rx))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(handler)).await
}
