//! Between the async HTTP side and the blocking engine: a request body as
//! a `Read`, and a `Write` whose bytes become the response body. Both go
//! through channels of a few chunks, so a body of any size streams through
//! in bounded memory, and a slow side holds the other back.

use bytes::Bytes;
use futures_util::StreamExt;
use std::io::{self, Read, Write};
use tokio::sync::mpsc;

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
/// is called if the client breaks off its upload.
pub fn body_reader(body: axum::body::Body, on_error: impl FnOnce() + Send + 'static) -> BodyReader {
    let (tx, rx) = mpsc::channel(CHUNKS);
    tokio::spawn(async move {
        let mut frames = body.into_data_stream();
        while let Some(frame) = frames.next().await {
            let item = frame.map_err(|e| io::Error::new(io::ErrorKind::ConnectionAborted, e));
            let failed = item.is_err();
            if tx.send(item).await.is_err() {
                return;
            }
            if failed {
                on_error();
                return;
            }
        }
    });
    BodyReader {
        rx,
        current: Bytes::new(),
    }
}

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
