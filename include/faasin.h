/*
 * faasin.h: the C API of FAASIN, UNIX pipes for chained serverless functions.
 *
 * GENERATED from ffi/src by cbindgen (cargo run -p faasin-ffi-header).
 * DO NOT EDIT: change the doc comments in ffi/src and regenerate.
 *
 * Errors: functions return -1 (or NULL) and set errno; see faasin_strerror.
 * Link with -lfaasin (pkg-config --cflags --libs faasin).
 */

#ifndef FAASIN_H
#define FAASIN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/**
 * The ring capacity used when `faasin_pipe` is given 0: 1 MiB.
 */
#define FAASIN_DEFAULT_CAPACITY (1 << 20)

/**
 * The read end of a stream (opaque; `faasin_reader` in C). Created by
 * `faasin_reader_open` or `faasin_input`, freed by `faasin_reader_close`.
 * Not thread-safe: use one from one thread at a time.
 */
typedef struct faasin_reader faasin_reader;

/**
 * The write end of a stream (opaque; `faasin_writer` in C). Created by
 * `faasin_writer_open` or `faasin_output`, freed by `faasin_writer_close`.
 * Not thread-safe: use one from one thread at a time.
 */
typedef struct faasin_writer faasin_writer;

#ifdef __cplusplus
extern "C" {
#endif // __cplusplus

/**
 * Creates a stream, like `pipe(2)`: `fds[0]` is the read end, `fds[1]` the
 * write end. Both are FAASIN endpoints (one fd each) and close-on-exec; hand
 * one to a child (after `fork`, or `dup2` onto fd 3 / 4 before `exec`) and
 * open it there with `faasin_reader_open` / `faasin_writer_open`.
 *
 * Fork before opening, not after: an opened end lives in the ring that
 * both processes share, so closing it in either process closes it for
 * both. Before opening, the fds are plain fds: `close(2)` the unused one.
 *
 * # Arguments
 * - `capacity`: ring size in bytes, a power of two from 4096 up; 0 selects
 *   `FAASIN_DEFAULT_CAPACITY`.
 * - `fds`: an array of two ints that receives the fds.
 *
 * # Returns
 * 0, or -1 with errno: `EINVAL` (NULL `fds`, bad capacity), or the system's
 * error (`EMFILE`, `ENOMEM`, ...). `fds` is untouched on failure.
 *
 * # Safety
 * `fds` is NULL or points to two writable ints.
 */
int faasin_pipe(size_t capacity, int *fds);

/**
 * Text for an errno value set by this library (or any errno), like
 * `strerror(3)` but thread-safe.
 *
 * # Arguments
 * - `err`: an errno value.
 *
 * # Returns
 * A NUL-terminated string, never NULL. FAASIN's own codes (`EPIPE`,
 * `EAGAIN`, `EBADMSG`, `EINVAL`, `ETIMEDOUT`, `ENOENT`, `EEXIST`,
 * `ENOTRECOVERABLE`) get static texts that say what they mean here; other
 * codes get the system's text, valid until the next `faasin_strerror` call
 * on the same thread.
 *
 * # Safety
 * None: any value is accepted. Do not free the result.
 */
const char *faasin_strerror(int err);

/**
 * The detailed text of the last error a faasin function set on this
 * thread (e.g. "release of 9 bytes, but only 4 are borrowed").
 *
 * # Returns
 * A NUL-terminated string, empty if no call failed yet on this thread;
 * valid until the next failing faasin call on the same thread.
 *
 * # Safety
 * None. Do not free the result.
 */
const char *faasin_last_error(void);

/**
 * Opens the read end of a stream on `fd`: a FAASIN endpoint (from
 * `faasin_pipe` or a runner), or any other readable fd (pipe, file, socket),
 * which is then read with plain `read(2)`.
 *
 * # Arguments
 * - `fd`: an open fd; its ownership passes to the library in every case
 *   (on failure it is closed), except `EBADF`, where nothing was taken.
 *
 * # Returns
 * A new reader to free with `faasin_reader_close`, or NULL with errno:
 * `EBADF` (fd not open), `EINVAL` (fd is the write end of a stream),
 * `EBADMSG` (a malformed endpoint or ring, or an endpoint already opened).
 *
 * # Safety
 * `fd` must not be owned by anything else in the process afterwards.
 */
faasin_reader *faasin_reader_open(int fd);

/**
 * The function's input stream, found by the FAASIN conventions: the fd in
 * env `FAASIN_FD`, else fd 3 if it is a FAASIN endpoint, or the stream
 * handed over by `FAASIN_SOCKET` + `FAASIN_TOKEN` in containers.
 *
 * # Returns
 * A new reader to free with `faasin_reader_close`, or NULL with errno:
 * `ENOENT` (no input stream; `faasin_last_error` says how to run the
 * function), `EEXIST` (already taken in this process), `EINVAL` (bad
 * `FAASIN_FD`), or what `faasin_reader_open` fails with.
 *
 * # Safety
 * None beyond the usual: the stream fd becomes the library's.
 */
faasin_reader *faasin_input(void);

/**
 * Reads up to `len` bytes, like `read(2)`: returns as soon as any byte is
 * there, blocks while the stream is empty and the writer open.
 *
 * # Arguments
 * - `r`: the reader.
 * - `buf`: where to copy the bytes (may be NULL only if `len` is 0).
 * - `len`: size of `buf`.
 *
 * # Returns
 * The number of bytes read (1..=len), 0 at end of stream (the writer
 * closed or died, and every byte it wrote was read) or when `len` is 0, or
 * -1 with errno: `EAGAIN` (non-blocking and empty), `ETIMEDOUT`, `EINTR`
 * (a signal arrived while waiting), `EBADMSG` (corrupted ring), `EINVAL`.
 *
 * # Safety
 * `r` is NULL or a live reader; `buf` is valid for `len` writable bytes.
 * Invalidates the pointer of a previous `faasin_read_borrow`.
 */
ssize_t faasin_read(faasin_reader *r, void *buf, size_t len);

/**
 * Zero-copy read: borrows every readable byte as one contiguous span that
 * points into the ring. Give bytes back with `faasin_read_release`.
 *
 * # Arguments
 * - `r`: the reader.
 * - `data`: receives the start of the span (NULL at end of stream).
 *
 * # Returns
 * The length of the span (>= 1; blocks until a byte is there like
 * `faasin_read`), 0 at end of stream, or -1 with errno as `faasin_read`.
 *
 * # Safety
 * `r` is NULL or a live reader; `data` is NULL or writable. The span stays
 * valid and unchanged until the next release, read, borrow or close on `r`;
 * do not write to it.
 */
ssize_t faasin_read_borrow(faasin_reader *r, const void **data);

/**
 * Gives the first `n` bytes of the last borrowed span back to the writer.
 *
 * # Arguments
 * - `r`: the reader.
 * - `n`: bytes consumed, at most the length the last borrow returned
 *   minus what was released since.
 *
 * # Returns
 * 0, or -1 with errno `EINVAL` (NULL reader, or `n` beyond the borrow).
 *
 * # Safety
 * `r` is NULL or a live reader. Released bytes may be overwritten by the
 * writer at once.
 */
int faasin_read_release(faasin_reader *r, size_t n);

/**
 * The fd to poll for readiness: `POLLIN` (never `POLLOUT`). In
 * non-blocking mode, a call that fails with `EAGAIN` arms it: the fd then
 * becomes readable when data or end of stream arrives. Always try the
 * read first and poll only after `EAGAIN`; a wake-up may be stale, and the
 * retry then fails with `EAGAIN` again. Do not read from or close the fd.
 *
 * # Arguments
 * - `r`: the reader.
 *
 * # Returns
 * The fd, or -1 with errno `EINVAL` (NULL reader).
 *
 * # Safety
 * `r` is NULL or a live reader.
 */
int faasin_reader_fd(const faasin_reader *r);

/**
 * Turns non-blocking mode on or off: a read that would wait fails with
 * `EAGAIN` instead (see `faasin_reader_fd` for polling).
 *
 * # Arguments
 * - `r`: the reader.
 * - `on`: non-zero for non-blocking.
 *
 * # Returns
 * 0, or -1 with errno (`EINVAL` for a NULL reader).
 *
 * # Safety
 * `r` is NULL or a live reader.
 */
int faasin_reader_set_nonblocking(faasin_reader *r, int on);

/**
 * Bounds how long a blocking read waits (like `SO_RCVTIMEO`), on a ring
 * and on a plain fd (a pipe or socket; a regular file never waits).
 *
 * # Arguments
 * - `r`: the reader.
 * - `timeout_ms`: milliseconds; a negative value waits forever (default).
 *
 * # Returns
 * 0, or -1 with errno `EINVAL` (NULL reader). A read that times out
 * fails with `ETIMEDOUT`.
 *
 * # Safety
 * `r` is NULL or a live reader.
 */
int faasin_reader_set_timeout(faasin_reader *r, int64_t timeout_ms);

/**
 * Sets how long a waiting read spins before it sleeps in the kernel
 * (default 50 us or env `FAASIN_SPIN_US`); 0 sleeps at once.
 *
 * # Arguments
 * - `r`: the reader.
 * - `spin_us`: microseconds.
 *
 * # Returns
 * 0, or -1 with errno `EINVAL` (NULL reader).
 *
 * # Safety
 * `r` is NULL or a live reader.
 */
int faasin_reader_set_spin(faasin_reader *r, uint32_t spin_us);

/**
 * Bytes that can be read now without waiting.
 *
 * # Arguments
 * - `r`: the reader.
 *
 * # Returns
 * The count, or -1 with errno (`EINVAL` for a NULL reader, `EBADMSG`).
 *
 * # Safety
 * `r` is NULL or a live reader.
 */
ssize_t faasin_reader_available(faasin_reader *r);

/**
 * Tells whether the reader uses a shared-memory ring (1) or falls back to
 * plain `read(2)` on an ordinary fd (0).
 *
 * # Arguments
 * - `r`: the reader.
 *
 * # Returns
 * 1 or 0, or -1 with errno `EINVAL` (NULL reader).
 *
 * # Safety
 * `r` is NULL or a live reader.
 */
int faasin_reader_is_ring(const faasin_reader *r);

/**
 * Closes the read end and frees the reader: the writer's next write fails
 * with `EPIPE`, and a writer blocked for space wakes at once. Any borrowed
 * span becomes invalid.
 *
 * # Arguments
 * - `r`: the reader, or NULL (a no-op).
 *
 * # Returns
 * 0, or -1 with errno.
 *
 * An end inherited across `fork` is shared: closing it in one process
 * closes it for both (open ends after forking).
 *
 * # Safety
 * `r` is NULL or a live reader, not used again afterwards.
 */
int faasin_reader_close(faasin_reader *r);

/**
 * Opens the write end of a stream on `fd`: a FAASIN endpoint (from
 * `faasin_pipe` or a runner), or any other writable fd (pipe, file,
 * socket), which is then written with plain `write(2)`. On either kind, a
 * write after the reader left fails with `EPIPE` and raises no `SIGPIPE`
 * (on a plain fd, `SIGPIPE` is blocked on the thread during the write and
 * the one it raised is taken back).
 *
 * # Arguments
 * - `fd`: an open fd; its ownership passes to the library in every case
 *   (on failure it is closed), except `EBADF`, where nothing was taken.
 *
 * # Returns
 * A new writer to free with `faasin_writer_close`, or NULL with errno:
 * `EBADF` (fd not open), `EINVAL` (fd is the read end of a stream),
 * `EBADMSG` (a malformed endpoint or ring, or an endpoint already opened).
 *
 * # Safety
 * `fd` must not be owned by anything else in the process afterwards.
 */
faasin_writer *faasin_writer_open(int fd);

/**
 * The function's output stream, found by the FAASIN conventions: the fd in
 * env `FAASOUT_FD`, else fd 4 if it is a FAASIN endpoint, or the stream
 * handed over by `FAASIN_SOCKET` + `FAASIN_TOKEN` in containers.
 *
 * # Returns
 * A new writer to free with `faasin_writer_close`, or NULL with errno:
 * `ENOENT` (no output stream; `faasin_last_error` says how to run the
 * function), `EEXIST` (already taken in this process), `EINVAL` (bad
 * `FAASOUT_FD`), or what `faasin_writer_open` fails with.
 *
 * # Safety
 * None beyond the usual: the stream fd becomes the library's.
 */
faasin_writer *faasin_output(void);

/**
 * Writes `len` bytes, like `write(2)` on a pipe: blocks for space as
 * needed; every byte is visible to the reader when it returns.
 *
 * # Arguments
 * - `w`: the writer.
 * - `buf`: the bytes (may be NULL only if `len` is 0).
 * - `len`: how many.
 *
 * # Returns
 * The number of bytes written: `len` in blocking mode, possibly fewer in
 * non-blocking mode, or when the reader left or the timeout passed midway
 * (the next call then fails); 0 when `len` is 0; or -1 with errno: `EPIPE` (the reader closed
 * or died; never a `SIGPIPE`), `EAGAIN` (non-blocking and
 * full), `ETIMEDOUT`, `EINTR`, `EBADMSG`, `EINVAL`.
 *
 * # Safety
 * `w` is NULL or a live writer; `buf` is valid for `len` readable bytes.
 * Cancels a pending `faasin_write_reserve`.
 */
ssize_t faasin_write(faasin_writer *w, const void *buf, size_t len);

/**
 * Zero-copy write: reserves at least `min` writable bytes (up to all free
 * space) as one contiguous span in the ring; fill some, then publish them
 * with `faasin_write_commit`. A reservation never committed publishes
 * nothing.
 *
 * # Arguments
 * - `w`: the writer.
 * - `min`: bytes needed, at most the ring capacity; waits for that much
 *   space (0 never waits, and may return 0).
 * - `data`: receives the start of the span.
 *
 * # Returns
 * The usable length (>= `min`), or -1 with errno: `EINVAL` (NULL argument,
 * `min` beyond the capacity), `EPIPE`, `EAGAIN` (non-blocking and not
 * enough space), `ETIMEDOUT`, `EINTR`, `EBADMSG`.
 *
 * # Safety
 * `w` is NULL or a live writer; `data` is NULL or writable. The span is
 * valid until the next commit, write, reserve or close on `w`.
 */
ssize_t faasin_write_reserve(faasin_writer *w, size_t min, void **data);

/**
 * Publishes the first `n` bytes of the last reservation to the reader and
 * ends the reservation.
 *
 * # Arguments
 * - `w`: the writer.
 * - `n`: bytes filled, at most the length `faasin_write_reserve` returned.
 *
 * # Returns
 * 0, or -1 with errno: `EINVAL` (NULL writer, `n` beyond the reservation,
 * or no reservation), `EPIPE` (the reader left; nothing published), or, on
 * a plain fd, where the bytes are written now, `ETIMEDOUT` (the text of
 * `faasin_last_error` says how many went) and the system's write errors.
 *
 * # Safety
 * `w` is NULL or a live writer.
 */
int faasin_write_commit(faasin_writer *w, size_t n);

/**
 * Checks that the reader is still there. Every write is visible to the
 * reader when it returns, so there is nothing to push.
 *
 * # Arguments
 * - `w`: the writer.
 *
 * # Returns
 * 0, or -1 with errno `EPIPE` (the reader closed or died) or `EINVAL`.
 *
 * # Safety
 * `w` is NULL or a live writer.
 */
int faasin_writer_flush(faasin_writer *w);

/**
 * The fd to poll for readiness: `POLLIN`, like the read end (space is
 * announced by a doorbell that makes it readable; never poll `POLLOUT` on
 * a ring end). In non-blocking mode, a write or reserve that fails with
 * `EAGAIN` arms it; try first, poll only after `EAGAIN`. For a plain fd
 * (`faasin_writer_is_ring` is 0) it is that fd: poll it for `POLLOUT`.
 * Do not read from or close the fd.
 *
 * # Arguments
 * - `w`: the writer.
 *
 * # Returns
 * The fd, or -1 with errno `EINVAL` (NULL writer).
 *
 * # Safety
 * `w` is NULL or a live writer.
 */
int faasin_writer_fd(const faasin_writer *w);

/**
 * Turns non-blocking mode on or off: a write that would wait writes what
 * fits, or fails with `EAGAIN` if nothing fits (see `faasin_writer_fd`).
 *
 * # Arguments
 * - `w`: the writer.
 * - `on`: non-zero for non-blocking.
 *
 * # Returns
 * 0, or -1 with errno (`EINVAL` for a NULL writer).
 *
 * # Safety
 * `w` is NULL or a live writer.
 */
int faasin_writer_set_nonblocking(faasin_writer *w, int on);

/**
 * Bounds how long a blocking write, reserve or commit waits for space
 * (like `SO_SNDTIMEO`), on a ring and on a plain fd (a pipe or socket; a
 * regular file never waits). On a plain fd, a commit is where the bytes
 * are written, so it is the call that can time out there.
 *
 * # Arguments
 * - `w`: the writer.
 * - `timeout_ms`: milliseconds; a negative value waits forever (default).
 *
 * # Returns
 * 0, or -1 with errno `EINVAL` (NULL writer). A wait that times out fails
 * with `ETIMEDOUT` (or returns the bytes written so far).
 *
 * # Safety
 * `w` is NULL or a live writer.
 */
int faasin_writer_set_timeout(faasin_writer *w, int64_t timeout_ms);

/**
 * Sets how long a waiting write spins before it sleeps in the kernel
 * (default 50 us or env `FAASIN_SPIN_US`); 0 sleeps at once.
 *
 * # Arguments
 * - `w`: the writer.
 * - `spin_us`: microseconds.
 *
 * # Returns
 * 0, or -1 with errno `EINVAL` (NULL writer).
 *
 * # Safety
 * `w` is NULL or a live writer.
 */
int faasin_writer_set_spin(faasin_writer *w, uint32_t spin_us);

/**
 * Tells whether the writer uses a shared-memory ring (1) or falls back to
 * plain `write(2)` on an ordinary fd (0).
 *
 * # Arguments
 * - `w`: the writer.
 *
 * # Returns
 * 1 or 0, or -1 with errno `EINVAL` (NULL writer).
 *
 * # Safety
 * `w` is NULL or a live writer.
 */
int faasin_writer_is_ring(const faasin_writer *w);

/**
 * Closes the write end and frees the writer: the reader gets end of stream
 * after every committed byte, and a reader blocked for data wakes at once.
 * An uncommitted reservation is dropped.
 *
 * # Arguments
 * - `w`: the writer, or NULL (a no-op).
 *
 * # Returns
 * 0, or -1 with errno.
 *
 * An end inherited across `fork` is shared: closing it in one process
 * closes it for both (open ends after forking).
 *
 * # Safety
 * `w` is NULL or a live writer, not used again afterwards.
 */
int faasin_writer_close(faasin_writer *w);

#ifdef __cplusplus
}  // extern "C"
#endif  // __cplusplus

#endif  /* FAASIN_H */
