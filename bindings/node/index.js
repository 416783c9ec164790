'use strict';
// faasin for Node: FAASIN stream ends as stream.Readable / stream.Writable.
//
// The native addon (src/, built into faasin.node) gives non-blocking ends:
// every call returns at once, `null` meaning "would block". After a null we
// `arm` the end: a native thread polls its fd and calls back here once it is
// ready, so the event loop itself never waits.

const { Readable, Writable } = require('node:stream');
const path = require('node:path');

function loadAddon() {
  const file = process.env.FAASIN_NODE_ADDON || path.join(__dirname, 'faasin.node');
  try {
    return require(file);
  } catch (err) {
    if (err.code !== 'MODULE_NOT_FOUND') throw err;
    const e = new Error(`faasin: native addon ${file} is missing; build it with \`bash ${path.join(__dirname, 'build.sh')}\` (needs cargo)`);
    e.code = 'ENOENT';
    throw e;
  }
}

const native = loadAddon();

const DEFAULT_CAPACITY = native.DEFAULT_CAPACITY;
// Largest Buffer one stream read yields: enough to amortise the per-chunk
// cost of a JS callback, small enough not to hog the heap.
const DEFAULT_READ_SIZE = 1 << 20;
const DEFAULT_HIGH_WATER_MARK = 64 * 1024;
// A reader buffers nothing ahead by default: the ring is its read-ahead.
// Above 0, a paused-mode read() (for await, 'readable') that finds a chunk
// buffered calls _read, and Node then joins the two chunks into a new
// Buffer: a second copy of every byte, into fresh memory.
const DEFAULT_READER_HIGH_WATER_MARK = 0;
// Stream reads copy into slices of slabs (see src/slab.rs). A reader starts
// with a small slab and moves to big ones (4 MiB, huge pages) once a read
// of BIG_READ bytes or more shows that data comes in bulk, so a stream of
// small messages does not pin megabytes with each chunk it hands out.
const SMALL_SLAB_SIZE = 64 * 1024;
const BIG_READ = 16 * 1024;
// A slab with less room left than this (or a quarter of the slab) is
// retired for a new one, so that reads do not shrink to slivers of its tail.
const MIN_SLAB_ROOM = 64 * 1024;

// Ends whose readiness callback is outstanding. Like a libuv handle with a
// pending request, a waiting stream must stay reachable even if user code
// dropped it, or its data would vanish with a collected object.
const waiting = new Set();

// The callback handed to the native waiter holds the stream only weakly:
// the native end holds the callback for the end's lifetime, and a strong
// reference would make every stream that ever waited immortal.
function makeWaker(stream) {
  const ref = new WeakRef(stream);
  return () => {
    const s = ref.deref();
    if (s !== undefined) s._faasinReady();
  };
}

function faasinError(code, message) {
  const err = new Error(message);
  err.code = code;
  return err;
}

function arm(stream) {
  if (stream._faasinWaiting) return;
  stream._faasinWaiting = true;
  waiting.add(stream);
  stream._faasinWaker ??= makeWaker(stream);
  try {
    stream._native.arm(stream._faasinWaker);
  } catch (err) {
    stream._faasinWaiting = false;
    waiting.delete(stream);
    throw err;
  }
}

function disarm(stream) {
  stream._faasinWaiting = false;
  waiting.delete(stream);
}

/**
 * What both ends add to their Node stream class: the native end, its
 * readiness waits, the timeout, and closing the native end on destroy.
 */
function FaasinEnd(Base) {
  return class extends Base {
    constructor(nativeEnd, streamOptions, timeout) {
      super(streamOptions);
      this._native = nativeEnd;
      this._faasinWaiting = false;
      this._faasinWaker = undefined;
      this._readyResolvers = [];
      if (timeout !== undefined) this.setTimeout(timeout);
    }

    get isRing() {
      return this._native.isRing;
    }

    get capacity() {
      return this._native.capacity;
    }

    /**
     * A read or write (or peek, reserve) whose wait for data or space lasts
     * longer than `ms` fails with `code: 'ETIMEDOUT'`, which destroys the
     * stream as any stream error does. `null` waits forever (the default).
     */
    setTimeout(ms) {
      this._native.setTimeout(ms);
      return this;
    }

    _faasinReady() {
      disarm(this);
      this._wakeWaiters();
      this._resume();
    }

    // Resolves the promises waiting for readiness: their next call reports
    // what happened (data, space, EOF, an error, or a close).
    _wakeWaiters() {
      const resolvers = this._readyResolvers;
      this._readyResolvers = [];
      for (const r of resolvers) r();
    }

    _destroy(err, cb) {
      disarm(this);
      this._wakeWaiters();
      try {
        this._native.close();
      } catch (closeErr) {
        err = err || closeErr;
      }
      cb(err);
    }
  };
}

/**
 * The read end of a FAASIN stream as a `stream.Readable` of Buffers.
 *
 * Stream reads copy once, from the ring into a slice of a pooled slab (safe
 * to keep; a kept chunk keeps its slab). The zero-copy path is `peek()` +
 * `release(n)`: do not mix it with stream reading on the same end.
 */
class FaasinReader extends FaasinEnd(Readable) {
  constructor(nativeEnd, options = {}) {
    super(nativeEnd, { highWaterMark: options.highWaterMark ?? DEFAULT_READER_HIGH_WATER_MARK }, options.timeout);
    this._readSize = checkReadSize(options.readSize);
    this._wantRead = false;
    // No read is larger than the ring (or the 64 KiB buffer of a plain fd).
    this._slabSize = native.slabSizeFor(Math.min(this._readSize, nativeEnd.capacity ?? 65536));
    this._slab = null;
    this._slabOff = 0;
    this._slabYielded = false;
    this._lastRead = 0;
  }

  _read() {
    this._wantRead = true;
    this._pump();
  }

  // Readable calls _read once and waits for a push, so every wake-up here
  // answers a request: push until it says stop, arm on would-block.
  _pump() {
    if (this.destroyed) return;
    for (;;) {
      let slab = this._slab;
      let off = this._slabOff;
      let n;
      try {
        if (slab === null || slab.length - off < Math.min(MIN_SLAB_ROOM, slab.length / 4)) {
          const size = this._lastRead >= BIG_READ ? this._slabSize : SMALL_SLAB_SIZE;
          slab = native.newSlab(size, this._slabYielded);
          if (slab === null) {
            // The pool is empty. Finalizers of collected slabs run only
            // between event-loop turns, and a reader that always finds
            // data never yields one: let one pass before mapping more.
            this._slabYielded = true;
            this._slab = null;
            setImmediate(() => this._pump());
            return;
          }
          this._slabYielded = false;
          this._slab = slab;
          off = this._slabOff = 0;
        }
        n = this._native.readInto(slab, off, this._readSize);
      } catch (err) {
        this._wantRead = false;
        this.destroy(err);
        return;
      }
      if (n === null) {
        try {
          arm(this);
        } catch (err) {
          this.destroy(err);
        }
        return;
      }
      if (n === 0) {
        this._wantRead = false;
        this._slab = null;
        this.push(null);
        return;
      }
      this._lastRead = n;
      // The next chunk starts on a cache line: see copy.rs in the core for
      // why the distance between ring and destination offsets matters.
      this._slabOff = Math.ceil((off + n) / 64) * 64;
      if (!this.push(slab.subarray(off, off + n))) {
        this._wantRead = false;
        return;
      }
    }
  }

  _resume() {
    if (this._wantRead) this._pump();
  }

  /**
   * Zero-copy: all readable bytes as a Buffer viewing the ring, `null` when
   * none are there yet (await `waitReadable()`), empty at EOF. The bytes are
   * the reader's until `release(n)`; the view stays valid memory after that
   * (it keeps the mapping alive until garbage-collected) but may then show
   * bytes the writer has reused.
   */
  peek() {
    if (this.readableLength > 0) {
      throw faasinError('EINVAL', 'peek() while the stream has buffered data: use one way of reading');
    }
    return this._native.peek();
  }

  /** Gives `n` bytes of the last `peek()` back to the writer. */
  release(n) {
    this._native.endView(n);
  }

  /** Bytes readable now without waiting. */
  available() {
    return this._native.available();
  }

  /** Resolves once data or EOF is there (for use with `peek()`). */
  waitReadable() {
    return new Promise((resolve, reject) => {
      try {
        if (this._native.peek() !== null) return resolve();
        this._readyResolvers.push(resolve);
        arm(this);
      } catch (err) {
        reject(err);
      }
    });
  }

  _destroy(err, cb) {
    this._slab = null;
    super._destroy(err, (e) => {
      scheduleSlabTrim(SLAB_TRIM_DELAY_MS);
      cb(e);
    });
  }
}

// The slab pool outlives the last reader by a grace period (native
// slab::GRACE), then gives its memory back. The timer is unref'd: it never
// keeps the process alive.
const SLAB_TRIM_DELAY_MS = 2100;
let slabTrimTimer = null;

function scheduleSlabTrim(ms) {
  if (slabTrimTimer !== null) clearTimeout(slabTrimTimer);
  slabTrimTimer = setTimeout(() => {
    slabTrimTimer = null;
    const wait = native.trimSlabPool();
    if (wait > 0) scheduleSlabTrim(Math.ceil(wait));
  }, ms);
  slabTrimTimer.unref();
}

/**
 * The write end of a FAASIN stream as a `stream.Writable`.
 *
 * Writes go from the caller's Buffer/Uint8Array straight into the ring (no
 * intermediate copy). `write()` returns false once the ring is full and
 * `highWaterMark` bytes wait in the stream; 'drain' follows when the reader
 * makes room. After the reader left, writes fail with `code: 'EPIPE'`.
 * The zero-copy path is `reserve(n)` + `commit(k)`.
 */
class FaasinWriter extends FaasinEnd(Writable) {
  constructor(nativeEnd, options = {}) {
    super(nativeEnd, { highWaterMark: options.highWaterMark ?? DEFAULT_HIGH_WATER_MARK }, options.timeout);
    this._chunk = null;
    this._cb = null;
  }

  _write(chunk, _encoding, cb) {
    this._chunk = chunk;
    this._cb = cb;
    this._drive();
  }

  _drive() {
    let chunk = this._chunk;
    while (chunk.length > 0) {
      let n;
      try {
        n = this._native.write(chunk);
      } catch (err) {
        this._done(err);
        return;
      }
      if (n === null) {
        this._chunk = chunk;
        try {
          arm(this);
        } catch (err) {
          this._done(err);
        }
        return;
      }
      chunk = chunk.subarray(n);
    }
    this._done(null);
  }

  _done(err) {
    const cb = this._cb;
    this._chunk = null;
    this._cb = null;
    cb(err);
  }

  _resume() {
    if (this._cb !== null) this._drive();
  }

  /**
   * Zero-copy: a Buffer over at least `n` free bytes of the ring (all that
   * is free), or `null` when fewer are free now (await `waitWritable(n)` or
   * use `reserveAsync(n)`). Fill it, then `commit(k)`. Only between stream
   * writes: refused while a `write()` is still pending.
   */
  reserve(n) {
    if (this._cb !== null || this.writableLength > 0) {
      throw faasinError('EINVAL', "reserve() while stream writes are pending: wait for 'drain'");
    }
    return this._native.reserve(n);
  }

  /** Resolves to a reserved Buffer of at least `n` bytes, waiting for space. */
  async reserveAsync(n) {
    for (;;) {
      const buf = this.reserve(n);
      if (buf !== null) return buf;
      await this._waitReady();
    }
  }

  /** Publishes the first `k` bytes of the last reservation. */
  commit(k) {
    this._native.endView(k);
  }

  /** Resolves once the ring has space again (or the reader is gone). */
  waitWritable() {
    return this._waitReady();
  }

  _waitReady() {
    return new Promise((resolve, reject) => {
      this._readyResolvers.push(resolve);
      try {
        arm(this);
      } catch (err) {
        reject(err);
      }
    });
  }

  _final(cb) {
    disarm(this);
    try {
      this._native.close();
    } catch (err) {
      cb(err);
      return;
    }
    cb();
  }
}

function checkReadSize(readSize) {
  if (readSize === undefined) return DEFAULT_READ_SIZE;
  if (!Number.isSafeInteger(readSize) || readSize < 1) {
    throw faasinError('EINVAL', `readSize must be a positive integer, got ${readSize}`);
  }
  return readSize;
}

function checkCapacity(capacity) {
  if (capacity === undefined) return DEFAULT_CAPACITY;
  if (typeof capacity !== 'number') {
    throw faasinError('EINVAL', `capacity must be a number, got ${typeof capacity}`);
  }
  return capacity;
}

/** A new stream as raw endpoint fds `[readFd, writeFd]` (close-on-exec). */
function pipeFds(capacity) {
  return native.pipeFds(checkCapacity(capacity));
}

/** Opens the read end from an fd (a FAASIN endpoint or any readable fd). */
function openReader(fd, options = {}) {
  // Checked before the fd is taken, so a bad option leaves it the caller's.
  checkReadSize(options.readSize);
  return new FaasinReader(native.openReader(fd), options);
}

/** Opens the write end from an fd (a FAASIN endpoint or any writable fd). */
function openWriter(fd, options) {
  return new FaasinWriter(native.openWriter(fd), options);
}

/** A stream within this process: `{ reader, writer }`. */
function pipe(options = {}) {
  checkReadSize(options.readSize);
  const [r, w] = native.pipeFds(checkCapacity(options.capacity));
  let reader;
  try {
    reader = openReader(r, options);
  } catch (err) {
    closeQuietly(r);
    closeQuietly(w);
    throw err;
  }
  try {
    return { reader, writer: openWriter(w, options) };
  } catch (err) {
    reader.destroy();
    closeQuietly(w);
    throw err;
  }
}

function closeQuietly(fd) {
  try {
    require('node:fs').closeSync(fd);
  } catch {
    // already closed
  }
}

/**
 * One invocation of a warm function (see `invocations()`): `input` and
 * `output` are its streams, `params` its parameters (a string, JSON by
 * convention, or null); `finish(value)` ends it with a return value.
 */
class FaasinInvocation {
  constructor(nativeInvocation) {
    this._native = nativeInvocation;
    this._done = false;
    this.params = nativeInvocation.params ?? null;
    this.input = new FaasinReader(nativeInvocation.takeReader());
    this.output = new FaasinWriter(nativeInvocation.takeWriter());
  }

  /**
   * Ends the invocation: ends `output` (the next function gets every byte
   * written, then EOF), closes `input`, then sends `value` as the return
   * value (a string or bytes as they are, anything else as JSON): to the
   * warm runner, or on stdout when the process was not started warm.
   */
  async finish(value) {
    if (this._done) throw faasinError('EINVAL', 'this invocation was already finished or closed');
    this._done = true;
    const bytes =
      value instanceof Uint8Array
        ? Buffer.from(value)
        : Buffer.from(typeof value === 'string' ? value : JSON.stringify(value ?? null));
    try {
      await new Promise((resolve, reject) => {
        this.output.end((err) => (err ? reject(err) : resolve()));
      });
    } catch (err) {
      // The output could not be ended (the next function left, say): the
      // invocation broke off; the runner hears it now, not at GC.
      this.input.destroy();
      this.output.destroy();
      this._native.abandon();
      throw err;
    }
    this.output.destroy();
    this.input.destroy();
    this._native.finish(bytes);
  }

  /** Closes both streams without a return value: the runner sees the invocation as broken off. */
  close() {
    if (this._done) return;
    this._done = true;
    this.input.destroy();
    this.output.destroy();
    this._native.abandon();
  }
}

/**
 * The invocations this process serves, for a warm function:
 *
 *     for await (const inv of faasin.invocations()) {
 *       for await (const chunk of inv.input) inv.output.write(transform(chunk));
 *       await inv.finish({ ok: true });
 *     }
 *
 * Started by `faasin run --warm N`, the loop runs once per invocation, with
 * fresh streams each time; the wait for the next one happens off the event
 * loop. Started any other way it runs once, on the function's own streams
 * (then do not also use `faasin.input`/`output`: an end opens once), and
 * `finish` prints the return value on stdout.
 */
async function* invocations() {
  const it = native.invocations();
  for (;;) {
    const next = await it.next();
    if (next === null) return;
    if (!(next instanceof native.NativeInvocation)) throw faasinError(next.code, next.message);
    yield new FaasinInvocation(next);
  }
}

/**
 * A one-shot function's invocation parameters, from env `FAASIN_PARAMS`
 * (null when unset or empty). A warm function gets each invocation's own
 * as `inv.params`.
 */
function params() {
  return native.params() ?? null;
}

/**
 * The streams of one invocation of a Lambda handler under `faasin serve`,
 * by the request id its context carries:
 *
 *     const { input, output } = faasin.streamsOf(context.awsRequestId);
 *
 * Good once per invocation; end `output` before the handler returns, so
 * the next function sees EOF.
 */
function streamsOf(requestId, options = {}) {
  const [r, w] = native.streamFdsOf(String(requestId));
  return { input: openReader(r, options), output: openWriter(w, options) };
}

let input;
let output;

module.exports = {
  DEFAULT_CAPACITY,
  pipe,
  pipeFds,
  openReader,
  openWriter,
  FaasinReader,
  FaasinWriter,
  FaasinInvocation,
  invocations,
  streamsOf,
  params,
  /** The native addon, for the tests. */
  _native: native,
};

Object.defineProperties(module.exports, {
  // Created on first use: a module that never touches its streams does not
  // need them to exist (and each can be taken once per process).
  input: {
    enumerable: true,
    get() {
      input ??= new FaasinReader(native.input());
      return input;
    },
  },
  output: {
    enumerable: true,
    get() {
      output ??= new FaasinWriter(native.output());
      return output;
    },
  },
});
