'use strict';
// The zero-copy paths: peek()/release() views of the ring, reserve()/commit()
// grants, and misuse that must not crash the process.
const test = require('node:test');
const assert = require('node:assert');
const faasin = require('..');

test('reserve/commit writes into the ring; peek views the ring itself', () => {
  const { reader, writer } = faasin.pipe({ capacity: 4096 });
  const grant = writer.reserve(1000);
  assert.ok(grant.length >= 1000 && grant.length <= 4096);
  grant.fill(0x61, 0, 1000);
  assert.strictEqual(reader.peek(), null, 'nothing is readable before commit');
  writer.commit(1000);
  const view = reader.peek();
  assert.strictEqual(view.length, 1000);
  assert.ok(view.every((b) => b === 0x61));
  // A view, not a copy: a change through it shows in the next peek.
  view[0] = 0x62;
  assert.strictEqual(reader.peek()[0], 0x62);
  reader.release(400);
  const rest = reader.peek();
  assert.strictEqual(rest.length, 600);
  reader.release(600);
  assert.strictEqual(reader.peek(), null);
  reader.destroy();
  writer.destroy();
});

test('an old view shows the ring reused after release, and never faults', () => {
  const { reader, writer } = faasin.pipe({ capacity: 4096 });
  writer.reserve(4096).fill(0x41);
  writer.commit(4096);
  const old = reader.peek();
  assert.strictEqual(old.length, 4096);
  reader.release(4096);
  writer.reserve(4096).fill(0x42);
  writer.commit(4096);
  // Same ring bytes, so the stale view now shows the writer's new data.
  assert.ok(old.every((b) => b === 0x42));
  const grant = writer.reserve(0);
  reader.destroy();
  writer.destroy();
  // Both ends are closed; the views keep the mapping alive until collected.
  old[0] = 1;
  grant.fill(7);
  assert.strictEqual(old[0], 1);
  assert.throws(() => writer.commit(1), { code: 'EBADF' });
  assert.throws(() => reader.release(1), { code: 'EBADF' });
});

test('commit beyond the reservation, and a stale reservation, are refused', () => {
  const { reader, writer } = faasin.pipe({ capacity: 4096 });
  const g = writer.reserve(16);
  assert.throws(() => writer.commit(g.length + 1), { code: 'EINVAL' });
  writer.commit(0);
  assert.throws(() => writer.commit(1), { code: 'EINVAL' }, 'the reservation is used up');
  assert.throws(() => writer.commit(1.5), { code: 'EINVAL' });
  assert.throws(() => reader.release(-1), { code: 'EINVAL' });
  reader.destroy();
  writer.destroy();
});

test('reserve() is refused while stream writes are pending', async () => {
  const { reader, writer } = faasin.pipe({ capacity: 4096 });
  writer.write(Buffer.alloc(8192)); // more than fits: stays pending
  assert.throws(() => writer.reserve(1), (e) => e.code === 'EINVAL' && /pending/.test(e.message));
  reader.destroy();
  writer.destroy();
});

test('reserveAsync and waitReadable wait without blocking the loop', async () => {
  const { reader, writer } = faasin.pipe({ capacity: 4096 });
  writer.reserve(4096).fill(1);
  writer.commit(4096);
  assert.strictEqual(writer.reserve(1), null, 'the ring is full');
  let ticks = 0;
  const iv = setInterval(() => ticks++, 5);
  setTimeout(() => {
    const v = reader.peek();
    reader.release(v.length);
  }, 100);
  const g = await writer.reserveAsync(2048);
  assert.ok(g.length >= 2048);
  g.fill(9, 0, 10);
  writer.commit(10);
  const v = reader.peek();
  assert.deepStrictEqual([...v], Array(10).fill(9));
  reader.release(10);
  assert.strictEqual(reader.peek(), null);
  setTimeout(() => writer.end('later'), 100);
  await reader.waitReadable();
  assert.strictEqual(reader.peek().toString(), 'later');
  reader.release(5);
  await reader.waitReadable();
  assert.strictEqual(reader.peek().length, 0, 'EOF: an empty view');
  clearInterval(iv);
  assert.ok(ticks >= 5, `only ${ticks} ticks while waiting`);
  reader.destroy();
});

test('peek() is refused while the stream holds buffered data', async () => {
  const { reader, writer } = faasin.pipe({ capacity: 4096 });
  writer.write('abc');
  reader.pause();
  reader.read(0); // makes the stream pull into its own buffer
  await new Promise((r) => setImmediate(r));
  assert.ok(reader.readableLength > 0);
  assert.throws(() => reader.peek(), { code: 'EINVAL' });
  reader.destroy();
  writer.destroy();
});

test('destroy() wakes a pending waitReadable/waitWritable; later calls say EBADF', async () => {
  const { reader, writer } = faasin.pipe({ capacity: 4096 });
  const readable = reader.waitReadable();
  writer.reserve(4096);
  writer.commit(4096);
  await readable;
  const { reader: r2, writer: w2 } = faasin.pipe({ capacity: 4096 });
  w2.reserve(4096);
  w2.commit(4096);
  const pendingRead = r2.waitReadable(); // resolves at once: data is there
  await pendingRead;
  const { reader: r3, writer: w3 } = faasin.pipe({ capacity: 4096 });
  const waitingRead = r3.waitReadable();
  r3.destroy();
  await waitingRead;
  assert.throws(() => r3.peek(), { code: 'EBADF' });
  w2.reserve(0);
  const waitingWrite = w2.waitWritable();
  w2.destroy();
  await waitingWrite;
  assert.throws(() => w2.reserve(1), { code: 'EBADF' });
  for (const s of [reader, writer, r2, w3]) s.destroy();
});
