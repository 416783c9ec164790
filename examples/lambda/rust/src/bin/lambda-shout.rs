//! A Lambda handler that is also a FAASIN stage: it streams its faasin to
//! its faasout in upper case and returns how many bytes it passed on.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};
use std::io::{Read, Write};

async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let (mut input, mut output) = faasin::streams_of(&event.context.request_id)?;
    // The streams block: off the async runtime's thread.
    let bytes = tokio::task::spawn_blocking(move || -> std::io::Result<usize> {
        let mut buf = vec![0u8; 1 << 16];
        let mut bytes = 0;
        loop {
            let n = input.read(&mut buf)?;
            if n == 0 {
                output.close()?;
                return Ok(bytes);
            }
            buf[..n].make_ascii_uppercase();
            output.write_all(&buf[..n])?;
            bytes += n;
        }
    })
    .await??;
    Ok(json!({"bytes": bytes, "query": event.payload["query"]}))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(handler)).await
}
