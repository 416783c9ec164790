'use strict';
// Pipe semantics of the Node streams: EOF, EPIPE, peer death, backpressure,
// an event loop that keeps running while a read waits, errors and panics.
const test = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { pipeline } = require('node:stream/promises');
const { Readable, Transform } = require('node:stream');
const faasin = require('..');
const { nodeChild, drain, produce, FIXTURES } = require('./helpers');

function once(emitter, event) {
  return new Promise((resolve) => emitter.once(event, resolve));
}

test('EOF: end() gives the reader every byte, then end', async () => {
  const { reader, writer } = faasin.pipe({ capacity: 4096 });
  assert.strictEqual(reader.isRing, true);
  assert.strictEqual(writer.capacity, 4096);
  const writes = (async () => {
    for (let i = 0; i < 100; i++) writer.write(Buffer.from(`line ${i}\n`));
    writer.end();
  })();
  const chunks = [];
  for await (const c of reader) {
    assert.ok(Buffer.isBuffer(c));
    chunks.push(c);
  }
  await writes;
  const text = Buffer.concat(chunks).toString();
  assert.strictEqual(text, Array.from({ length: 100 }, (_, i) => `line ${i}\n`).join(''));
});

test('EPIPE: writing after the reader closed emits an error with code EPIPE', async () => {
  const { reader, writer } = faasin.pipe({ capacity: 4096 });
  reader.destroy();
  await once(reader, 'close');
  writer.write(Buffer.alloc(10));
  const err = await once(writer, 'error');
  assert.strictEqual(err.code, 'EPIPE');
  assert.match(err.message, /broken pipe/);
});

test('EPIPE reaches a writer that waits for space when the reader closes', async () => {
  const { reader, writer } = faasin.pipe({ capacity: 4096 });
  const errP = once(writer, 'error');
  writer.write(Buffer.alloc(64 * 1024)); // fills the ring, then waits
  await new Promise((r) => setTimeout(r, 50));
  reader.destroy();
  const err = await errP;
  assert.strictEqual(err.code, 'EPIPE');
});

test('kill -9 of a reading child: the waiting writer gets EPIPE', async () => {
  const [r, w] = faasin.pipeFds(1 << 16);
  const child = nodeChild('reader.js', ['--stall'], r, 'FAASIN_FD');
  await child.waitFor(/stalled/);
  const writer = faasin.openWriter(w);
  const errP = once(writer, 'error');
  let full = false;
  for (let i = 0; i < 64 && !full; i++) full = !writer.write(Buffer.alloc(16 * 1024));
  assert.ok(full, 'the stalled reader should make write() return false');
  child.kill('SIGKILL');
  const err = await errP;
  assert.strictEqual(err.code, 'EPIPE');
  assert.strictEqual((await child.done).signal, 'SIGKILL');
});

test('kill -9 of a writing child: the reader gets the bytes written, then end', async () => {
  const [r, w] = faasin.pipeFds(1 << 20);
  const child = nodeChild('writer.js', [String(64 << 20), '--chunk', '65536', '--stall-after', '262144'], w, 'FAASOUT_FD');
  const reader = faasin.openReader(r);
  let got = 0;
  reader.on('data', (c) => {
    got += c.length;
  });
  await child.waitFor(/stalled/);
  while (got < 262144) await new Promise((res) => setTimeout(res, 5));
  child.kill('SIGKILL');
  await once(reader, 'end');
  assert.strictEqual(got, 262144);
  assert.strictEqual((await child.done).signal, 'SIGKILL');
});

test('backpressure: write() returns false when the ring is full, drain when it frees', async () => {
  const cap = 1 << 16;
  const hwm = 16 * 1024;
  const { reader, writer } = faasin.pipe({ capacity: cap, highWaterMark: hwm });
  const chunk = Buffer.alloc(4096, 7);
  let accepted = 0;
  while (writer.write(chunk)) {
    accepted += chunk.length;
    assert.ok(accepted <= cap + hwm, `write() still true after ${accepted} bytes`);
  }
  accepted += chunk.length;
  assert.ok(accepted >= cap, `write() false after only ${accepted} of ${cap} bytes`);
  assert.ok(reader.available() >= cap - 4096, `ring holds only ${reader.available()}`);
  const drained = once(writer, 'drain');
  let drainSeen = false;
  drained.then(() => {
    drainSeen = true;
  });
  await new Promise((r) => setTimeout(r, 30));
  assert.strictEqual(drainSeen, false, "'drain' before the reader read anything");
  let got = 0;
  reader.on('data', (c) => {
    got += c.length;
  });
  await drained;
  writer.end();
  await once(reader, 'end');
  assert.strictEqual(got, accepted);
});

test('the event loop keeps running while a read waits for a slow writer', async () => {
  const [r, w] = faasin.pipeFds();
  const child = nodeChild('writer.js', ['1000', '--delay', '600'], w, 'FAASOUT_FD');
  const reader = faasin.openReader(r);
  let ticks = 0;
  const iv = setInterval(() => ticks++, 10);
  const t0 = Date.now();
  const got = await drain(reader);
  clearInterval(iv);
  const waited = Date.now() - t0;
  const { out } = await child.done;
  assert.strictEqual(`${got.bytes} ${got.sha}`, out);
  assert.ok(waited >= 500, `the data came after ${waited} ms`);
  // At a 10 ms period, a blocked loop would show ~0 ticks over 600 ms.
  assert.ok(ticks >= 20, `only ${ticks} timer ticks in ${waited} ms`);
});

test('stream.pipeline through a Transform, async iteration of Buffers', async () => {
  const { reader, writer } = faasin.pipe({ capacity: 8192 });
  const words = Array.from({ length: 5000 }, (_, i) => `w${i} `);
  const upper = new Transform({
    transform(chunk, _enc, cb) {
      cb(null, Buffer.from(chunk.toString('latin1').toUpperCase(), 'latin1'));
    },
  });
  const [, got] = await Promise.all([
    pipeline(Readable.from(words), upper, writer),
    (async () => {
      const parts = [];
      for await (const c of reader) parts.push(c);
      return Buffer.concat(parts).toString();
    })(),
  ]);
  assert.strictEqual(got, words.join('').toUpperCase());
});

test('pipeline rejects with EPIPE when the reader leaves', async () => {
  const { reader, writer } = faasin.pipe({ capacity: 4096 });
  async function* forever() {
    for (;;) yield Buffer.alloc(1024);
  }
  setTimeout(() => reader.destroy(), 20);
  await assert.rejects(pipeline(Readable.from(forever()), writer), { code: 'EPIPE' });
});

test('Uint8Array chunks and strings are written as given', async () => {
  const { reader, writer } = faasin.pipe({ capacity: 4096 });
  writer.write(new Uint8Array([104, 105, 32]));
  writer.write('there');
  writer.end();
  assert.strictEqual((await drainText(reader)), 'hi there');
});

async function drainText(reader) {
  const parts = [];
  for await (const c of reader) parts.push(c);
  return Buffer.concat(parts).toString();
}

test('destroy() closes both ways; double close is harmless', async () => {
  const { reader, writer } = faasin.pipe({ capacity: 4096 });
  writer.destroy();
  writer.destroy();
  await once(writer, 'close');
  const chunks = [];
  for await (const c of reader) chunks.push(c);
  assert.strictEqual(chunks.length, 0);
  reader.destroy();
});

test('errors carry Node codes', () => {
  assert.throws(() => faasin.pipe({ capacity: 1000 }), (e) => e.code === 'EINVAL' && /power of two/.test(e.message));
  assert.throws(() => faasin.pipe({ capacity: -1 }), { code: 'EINVAL' });
  assert.throws(() => faasin.pipe({ capacity: '4096' }), { code: 'EINVAL' });
  assert.throws(() => faasin.openReader(-5), { code: 'EBADF' });
  assert.throws(() => faasin.openReader(999999), { code: 'EBADF' });
  const [r, w] = faasin.pipeFds(4096);
  // Wrong role: EINVAL, and the fd stays the caller's, still usable.
  assert.throws(() => faasin.openReader(w), { code: 'EINVAL' });
  assert.throws(() => faasin.openWriter(r), { code: 'EINVAL' });
  const reader = faasin.openReader(r);
  assert.throws(() => fs.fstatSync(r), { code: 'EBADF' }, 'a successful open takes the fd');
  const writer = faasin.openWriter(w);
  const { reader: r2, writer: w2 } = faasin.pipe({ capacity: 4096 });
  const view = w2.reserve(100);
  assert.ok(view.length >= 100);
  assert.throws(() => w2.commit(view.length + 1), (e) => e.code === 'EINVAL' && /only \d+ are reserved/.test(e.message));
  assert.throws(() => r2.release(1), (e) => e.code === 'EINVAL' && /borrowed/.test(e.message));
  assert.throws(() => w2.reserve(8192), { code: 'EINVAL' }, 'a reserve beyond the capacity');
  for (const s of [reader, writer, r2, w2]) s.destroy();
});

// A plain pipe's two fds. Node cannot call pipe(2), so it is a FIFO (a
// named pipe: the same pipe in the kernel), opened at both ends.
function plainPipe() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'faasin-fifo-'));
  const fifo = path.join(dir, 'pipe');
  const r = spawnSync('mkfifo', [fifo], { encoding: 'utf8' });
  assert.strictEqual(r.status, 0, r.stderr);
  // Non-blocking, or opening the read end would wait for a writer.
  const readFd = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  const writeFd = fs.openSync(fifo, fs.constants.O_WRONLY);
  fs.rmSync(dir, { recursive: true });
  return { readFd, writeFd };
}

test('a read waiting on a plain pipe longer than its timeout fails with ETIMEDOUT', async () => {
  const { readFd, writeFd } = plainPipe();
  const reader = faasin.openReader(readFd, { timeout: 200 });
  assert.strictEqual(reader.isRing, false);
  const start = Date.now();
  const err = await once(reader.resume(), 'error');
  const ms = Date.now() - start;
  assert.strictEqual(err.code, 'ETIMEDOUT');
  assert.match(err.message, /timed out/);
  assert.ok(ms >= 190 && ms < 5000, `timed out after ${ms} ms`);
  fs.closeSync(writeFd);
});

test('a timeout lets a read that gets data in time go on, and null waits forever', async () => {
  const { readFd, writeFd } = plainPipe();
  const reader = faasin.openReader(readFd).setTimeout(2000);
  setTimeout(() => fs.writeSync(writeFd, 'late but in time'), 100);
  const chunk = await once(reader, 'data');
  assert.strictEqual(String(chunk), 'late but in time');
  reader.setTimeout(null);
  assert.throws(() => reader.setTimeout(0), { code: 'EINVAL' });
  assert.throws(() => reader.setTimeout(-5), { code: 'EINVAL' });
  reader.destroy();
  fs.closeSync(writeFd);
});

test('a write waiting for space on a ring longer than its timeout fails with ETIMEDOUT', async () => {
  const { reader, writer } = faasin.pipe({ capacity: 4096, timeout: 200 });
  writer.write(Buffer.alloc(64 * 1024)); // fills the ring; nobody reads
  const err = await once(writer, 'error');
  assert.strictEqual(err.code, 'ETIMEDOUT');
  reader.destroy();
});

test('a Rust panic becomes a JS Error, and the process goes on', () => {
  const r = spawnSync(process.execPath, ['-e', `
    const f = require(${JSON.stringify(require.resolve('..'))});
    try { f._native._panicForTest('deliberate'); } catch (e) { console.log('caught', e instanceof Error, e.message); }
    const { reader, writer } = f.pipe({ capacity: 4096 });
    writer.end('still works');
    reader.on('data', (c) => console.log(String(c)));
  `], { encoding: 'utf8', env: { ...process.env, RUST_BACKTRACE: '0' } });
  assert.strictEqual(r.status, 0, r.stderr);
  assert.match(r.stdout, /caught true deliberate/);
  assert.match(r.stdout, /still works/);
});

test('faasin.input without a stream: ENOENT with a hint, on access only', () => {
  const script = `
    const f = require(${JSON.stringify(require.resolve('..'))});
    console.log(typeof f.pipe);
    try { f.input; } catch (e) { console.log(e.code, e.message); }
  `;
  const env = { ...process.env };
  delete env.FAASIN_FD;
  delete env.FAASOUT_FD;
  delete env.FAASIN_SOCKET;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env, stdio: ['ignore', 'pipe', 'pipe'] });
  assert.strictEqual(r.status, 0, r.stderr);
  assert.match(r.stdout, /^function\nENOENT .*faasin run/m);
});

test('a plain pipe works as the input (fallback to read(2))', () => {
  const r = spawnSync(process.execPath, [`${FIXTURES}/reader.js`], {
    input: Buffer.alloc(300000, 'x'),
    encoding: 'utf8',
    env: { ...process.env, FAASIN_FD: '0' },
  });
  assert.strictEqual(r.status, 0, r.stderr);
  const sha = require('node:crypto').createHash('sha256').update(Buffer.alloc(300000, 'x')).digest('hex');
  assert.strictEqual(r.stdout.trim(), `300000 ${sha}`);
});

test('writing 8 MiB in one write() call through a 4 KiB ring', async () => {
  const { reader, writer } = faasin.pipe({ capacity: 4096 });
  const [got, sent] = await Promise.all([drain(reader), produce(writer, 8 << 20, 8 << 20)]);
  assert.deepStrictEqual(got, sent);
});

test('one native write larger than the ring fills it in order, then would-block', () => {
  // A partial write must report exactly what it wrote: the stream goes on
  // from that offset.
  const { reader, writer } = faasin.pipe({ capacity: 256 * 1024 });
  const data = Buffer.alloc(1 << 20);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7 + (i >> 16)) & 0xff;
  assert.strictEqual(writer._native.write(data), 256 * 1024);
  assert.strictEqual(writer._native.write(data.subarray(256 * 1024)), null);
  const view = reader.peek();
  assert.strictEqual(view.length, 256 * 1024);
  assert.ok(view.equals(data.subarray(0, 256 * 1024)));
  reader.release(100 * 1024 + 3);
  assert.strictEqual(writer._native.write(data.subarray(256 * 1024)), 100 * 1024 + 3);
  reader.destroy();
  writer.destroy();
});

test('a plain socket works as the output (fallback to write(2), polled for POLLOUT)', async () => {
  const { spawn } = require('node:child_process');
  const child = spawn(process.execPath, [`${FIXTURES}/writer.js`, String(8 << 20), '--chunk', '65536'], {
    stdio: ['ignore', 'pipe', 'inherit', 'pipe'],
    env: { ...process.env, FAASOUT_FD: '3' },
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  // Read slowly at first, so the child's non-blocking writes hit EAGAIN.
  child.stdio[3].pause();
  await new Promise((r) => setTimeout(r, 200));
  const got = await drain(child.stdio[3]);
  const code = await new Promise((r) => child.on('close', r));
  assert.strictEqual(code, 0);
  assert.strictEqual(`${got.bytes} ${got.sha}`, out.trim());
});
