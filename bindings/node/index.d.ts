// Types for the `faasin` package: FAASIN stream ends as Node streams.
/// <reference types="node" />

import { Readable, Writable } from 'node:stream';

/** An Error thrown or emitted by faasin, with a Node-style errno `code`. */
export interface FaasinError extends Error {
  /**
   * `EPIPE` the reader left; `EAGAIN` would block; `EINVAL` bad argument or
   * misuse (e.g. commit beyond the reservation); `EBADMSG` malformed
   * endpoint or corrupted ring; `EBADF` closed end or bad fd; `ENOENT` no
   * input/output stream given to this process; `EEXIST` stream already
   * taken; other errno names for system errors.
   */
  code: string;
}

export interface EndOptions {
  /**
   * Stream buffering threshold in bytes. Writers: default 64 KiB. Readers:
   * default 0, nothing read ahead (the ring is the buffer); above 0, Node
   * may join buffered chunks into a new Buffer for `for await` / `read()`,
   * a second copy.
   */
  highWaterMark?: number;
  /**
   * A read or write whose wait for data or space lasts longer than this
   * many milliseconds fails with `code: 'ETIMEDOUT'` (see `setTimeout`).
   */
  timeout?: number | null;
}

export interface ReaderOptions extends EndOptions {
  /** Largest Buffer one stream read yields: a positive integer (default 1 MiB; EINVAL otherwise). */
  readSize?: number;
}

export interface PipeOptions extends ReaderOptions {
  /** Ring capacity in bytes: a power of two >= 4096 (default 1 MiB). */
  capacity?: number;
}

/**
 * The read end: a `Readable` of Buffers ('end' at EOF, after every byte the
 * writer committed). Stream reads copy once into Buffers you own and may
 * keep: each chunk is a slice (`subarray`) of a shared slab, like Node's own
 * Buffer pool. Slabs are 64 KiB until a read of 16 KiB or more, then 4 MiB
 * (up to 8 MiB with a larger `readSize` and ring), and are reused once
 * every chunk of them is garbage-collected. A chunk you keep keeps its
 * whole slab alive: copy small pieces you keep for long (`Buffer.from`).
 * As with `Buffer.allocUnsafe`, `chunk.buffer` outside the chunk's own
 * bytes holds other or stale data of this process.
 */
export declare class FaasinReader extends Readable {
  private constructor();
  /** True for a shared-memory ring, false for a plain fd read with read(2). */
  readonly isRing: boolean;
  /** Ring capacity in bytes; null for a plain fd or after close. */
  readonly capacity: number | null;
  /**
   * A read (or `peek`) whose wait for data lasts longer than `ms`
   * milliseconds fails with `code: 'ETIMEDOUT'`, which destroys the stream
   * as any stream error does (unlike `net.Socket#setTimeout`, which only
   * emits an event). `null`, the default, waits forever. On a ring and on a
   * plain fd alike.
   */
  setTimeout(ms: number | null): this;
  /**
   * Zero-copy: every readable byte as one Buffer viewing the ring; `null`
   * when nothing is readable yet; an empty Buffer at EOF. The bytes are
   * yours until `release(n)`. The view keeps the memory mapped until it is
   * garbage-collected, so a late use reads stale bytes but never crashes.
   * Do not mix with stream reading on the same end.
   */
  peek(): Buffer | null;
  /** Gives `n` bytes of the last `peek()` back to the writer (EINVAL if more). */
  release(n: number): void;
  /** Bytes readable now without waiting. */
  available(): number;
  /** Resolves once data or EOF is there. */
  waitReadable(): Promise<void>;
  [Symbol.asyncIterator](): AsyncIterableIterator<Buffer>;
}

/**
 * The write end: a `Writable` taking Buffer / Uint8Array / string. Each
 * chunk goes straight from its memory into the ring. Errors with
 * `code: 'EPIPE'` once the reader left; `end()` gives the reader EOF.
 */
export declare class FaasinWriter extends Writable {
  private constructor();
  readonly isRing: boolean;
  readonly capacity: number | null;
  /** As `FaasinReader#setTimeout`, for a write (or `reserveAsync`) waiting for space. */
  setTimeout(ms: number | null): this;
  /**
   * Zero-copy: a Buffer over at least `n` free bytes of the ring (all free
   * space), or `null` when fewer are free now. Fill it, then `commit(k)`.
   * Refused (EINVAL) while stream writes are pending.
   */
  reserve(n: number): Buffer | null;
  /** Like `reserve`, waiting for space without blocking the event loop. */
  reserveAsync(n: number): Promise<Buffer>;
  /** Publishes the first `k` reserved bytes (EINVAL if `k` exceeds the reservation). */
  commit(k: number): void;
  /** Resolves once the ring has space again or the reader is gone. */
  waitWritable(): Promise<void>;
}

/** Default ring capacity in bytes (1 MiB). */
export declare const DEFAULT_CAPACITY: number;

/** The function's input stream (env FAASIN_FD, fd 3, or FAASIN_SOCKET); created on first access. */
export declare const input: FaasinReader;
/** The function's output stream (env FAASOUT_FD, fd 4, or FAASIN_SOCKET); created on first access. */
export declare const output: FaasinWriter;

/** A stream within this process. */
export declare function pipe(options?: PipeOptions): { reader: FaasinReader; writer: FaasinWriter };

/**
 * A stream as raw endpoint fds `[readFd, writeFd]` (close-on-exec), to hand
 * to a child (e.g. `spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit', fd] })`
 * puts it at fd 3) or to open with `openReader` / `openWriter`. You own both
 * fds: close the one you handed on, or the peer never sees EOF.
 */
export declare function pipeFds(capacity?: number): [readFd: number, writeFd: number];

/** Opens a read end from an fd you own (a FAASIN endpoint or any readable fd). On success the stream owns it. */
export declare function openReader(fd: number, options?: ReaderOptions): FaasinReader;

/** Opens a write end from an fd you own (a FAASIN endpoint or any writable fd). On success the stream owns it. */
export declare function openWriter(fd: number, options?: EndOptions): FaasinWriter;

/** One invocation of a warm function; see `invocations()`. */
export declare class FaasinInvocation {
  private constructor();
  /** This invocation's input stream. */
  readonly input: FaasinReader;
  /** This invocation's output stream. */
  readonly output: FaasinWriter;
  /**
   * This invocation's parameters as the runner gave them (JSON by
   * convention: `JSON.parse(inv.params)`), or null if there are none.
   */
  readonly params: string | null;
  /**
   * Ends `output`, closes `input`, then sends `value` as the return value
   * (a string or bytes as they are, anything else as JSON).
   */
  finish(value?: unknown): Promise<void>;
  /** Closes both streams without a return value: the invocation broke off. */
  close(): void;
}

/**
 * The invocations this process serves: one per `faasin run --warm`
 * invocation, or exactly one (on the process's own streams) otherwise.
 */
export declare function invocations(): AsyncGenerator<FaasinInvocation, void, undefined>;

/**
 * The streams of one invocation of a Lambda handler under `faasin serve`,
 * by the request id its context carries (`context.awsRequestId`); good
 * once per invocation.
 */
export declare function streamsOf(
  requestId: string,
  options?: ReaderOptions,
): { input: FaasinReader; output: FaasinWriter };

/**
 * A one-shot function's invocation parameters, from env `FAASIN_PARAMS`
 * (null when unset or empty); a warm function reads `inv.params`.
 */
export declare function params(): string | null;
