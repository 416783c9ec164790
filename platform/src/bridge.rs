//! Between the async HTTP side and the blocking engine: a request body as
//! a `Read`, and a `Write` whose bytes become the response body. Both go
//! through channels of a few chunks, so a body of any size streams through
//! in bounded memory, and a slow side holds the other back.

use bytes::Bytes;
use futures_util::StreamExt;
use std::io::{self, Read, Write};
use tokio::sync::{mpsc, oneshot};

/// Chunks in flight per direction.
const CHUNKS: usize = 4;
/// The largest chunk the output side sends at once.
const MAX_CHUNK: usize = 256 << 10;

/// The request body, read by the engine's feeder thread.
pub struct BodyReader {
    rx: mpsc::Receiver<io::Result<Bytes>>,
    current: Bytes,
}

impl Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(b)) => self.current = b,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

/// Streams `body` into a [`BodyReader`] on a task of its own; `on_error`
/// is called if the client breaks off its upload. The receiver resolves
/// once the whole upload has been read (or dropped, see [`linger`]): an
/// error answered before that would reach a client still sending as a
/// reset connection.
pub fn body_reader(
    body: axum::body::Body,
    on_error: impl FnOnce() + Send + 'static,
) -> (BodyReader, oneshot::Receiver<()>) {
    let (tx, rx) = mpsc::channel(CHUNKS);
    let (done, uploaded) = oneshot::channel();
    tokio::spawn(async move {
        let _done = done;
        let mut frames = body.into_data_stream();
        while let Some(frame) = frames.next().await {
            let item = frame.map_err(|e| io::Error::new(io::ErrorKind::ConnectionAborted, e));
            let failed = item.is_err();
            if failed {
                // Before the invocation sees its input break off: it then
                // knows the client went away, not its function.
                on_error();
                let _ = tx.send(item).await;
                return;
            }
            if tx.send(item).await.is_err() {
                // The invocation is over (it failed, or its first function
                // stopped reading): the rest of the upload is read and
                // dropped, so that the client, still sending, gets the
                // response instead of a reset connection.
                linger(&mut frames).await;
                return;
            }
        }
    });
    let reader = BodyReader {
        rx,
        current: Bytes::new(),
    };
    (reader, uploaded)
}

/// Reads and drops what is left of an upload, up to [`LINGER_BYTES`] and
/// with at most [`LINGER_WAIT`] between two pieces.
async fn linger<S>(frames: &mut S)
where
    S: futures_util::Stream<Item = Result<Bytes, axum::Error>> + Unpin,
{
    let mut left = LINGER_BYTES;
    while let Ok(Some(Ok(b))) = tokio::time::timeout(LINGER_WAIT, frames.next()).await {
        left = left.saturating_sub(b.len());
        if left == 0 {
            return;
        }
    }
}

/// How much of an upload that is no longer wanted is still read.
const LINGER_BYTES: usize = 1 << 30;
/// How long a client that is no longer heard from is waited for.
const LINGER_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// The response body, written by the engine's output pump.
pub struct ResponseWriter {
    tx: mpsc::Sender<Bytes>,
}

impl Write for ResponseWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(MAX_CHUNK);
        self.tx
            .blocking_send(Bytes::copy_from_slice(&buf[..n]))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))?;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A writer for the response body and the receiving end its chunks come
/// out of.
pub fn response_writer() -> (ResponseWriter, mpsc::Receiver<Bytes>) {
    let (tx, rx) = mpsc::channel(CHUNKS);
    (ResponseWriter { tx }, rx)
}
