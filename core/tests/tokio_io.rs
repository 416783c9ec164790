//! tokio AsyncRead/AsyncWrite (run with `--features tokio`; CI does).
#![cfg(feature = "tokio")]

use faasin::tokio_io::{AsyncReader, AsyncWriter};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[test]
fn async_round_trip_on_one_thread() {
    current_thread().block_on(async {
        // Both ends on one single-threaded runtime: any blocking call would hang.
        let (r, w) = faasin::pipe(4096).unwrap();
        let mut r = AsyncReader::new(r).unwrap();
        let mut w = AsyncWriter::new(w).unwrap();
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
        let expect = data.clone();
        let writer = tokio::spawn(async move {
            w.write_all(&data).await.unwrap();
            drop(w.into_inner());
        });
        let mut got = Vec::new();
        r.read_to_end(&mut got).await.unwrap();
        writer.await.unwrap();
        assert!(got == expect);
    });
}

#[test]
fn async_write_after_reader_left_is_broken_pipe() {
    current_thread().block_on(async {
        let (r, w) = faasin::pipe(4096).unwrap();
        let mut w = AsyncWriter::new(w).unwrap();
        drop(r);
        let e = w.write_all(b"x").await.unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe);
    });
}

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .unwrap()
}
