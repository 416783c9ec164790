'use strict';
// Stream reads copy into slices of pooled slabs (src/slab.rs): the bytes a
// consumer keeps stay right, slabs are reused once collected, and the pool
// gives its memory back. The GC-driven parts run in a child with
// --expose-gc (fixtures/slabs.js).
const test = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const faasin = require('..');

const SLAB = 4 << 20;
const SMALL = 64 << 10;

function fixture(mode) {
  const r = spawnSync(process.execPath, ['--expose-gc', path.join(__dirname, 'fixtures', 'slabs.js'), mode], {
    encoding: 'utf8',
    timeout: 120000,
  });
  assert.strictEqual(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

test('kept chunks keep their bytes while later chunks fill the same and newer slabs', () => {
  const r = fixture('keep');
  assert.strictEqual(r.bytes, r.total);
  assert.strictEqual(r.bad, 0, `${r.bad} wrong bytes in kept chunks`);
  assert.strictEqual(r.overlaps, 0, 'chunks of one slab overlap');
  // 48 MiB through a 64 KiB ring: many chunks per slab, many slabs.
  assert.ok(r.slabs >= 12, `only ${r.slabs} slabs for ${r.chunks} chunks`);
  assert.ok(r.chunks > r.slabs * 4, `${r.chunks} chunks in ${r.slabs} slabs`);
  // The first slab is small; reads of 64 KiB moved the reader to big ones.
  assert.deepStrictEqual(r.slabSizes, [SMALL, SLAB]);
});

test('slabs are reused once collected, and unmapped after the grace period', () => {
  const r = fixture('free');
  assert.strictEqual(r.bytes, r.total);
  // 160 MiB is 40 slabs' worth: V8 is prompted to collect, and the pool
  // hands collected slabs out again.
  assert.ok(r.takes >= 40, `${r.takes} slabs taken`);
  assert.ok(r.maps <= r.takes / 2, `${r.maps} of ${r.takes} slabs newly mapped`);
  // Reader closed and everything collected: every slab left is pooled.
  assert.ok(r.closed.pooled >= 1);
  assert.strictEqual(r.closed.mapped, r.closed.pooled, JSON.stringify(r.closed));
  // Within the grace period the pool stays...
  assert.ok(r.earlyWait > 0 && r.earlyWait <= 2000, `wait ${r.earlyWait} ms`);
  assert.strictEqual(r.early.pooled, r.closed.pooled);
  // ...after it, the trim unmaps every slab, and the memory leaves the process.
  assert.strictEqual(r.lateWait, 0);
  assert.strictEqual(r.trimmed.mapped, 0, JSON.stringify(r.trimmed));
  assert.strictEqual(r.trimmed.pooled, 0);
  const pooledBytes = r.closed.pooled * SLAB;
  assert.ok(r.rssDrop >= pooledBytes / 2, `RSS fell by ${r.rssDrop} after unmapping ${pooledBytes} bytes`);
});

test('one small kept chunk keeps its whole slab, and only that one', () => {
  const r = fixture('pinned');
  assert.strictEqual(r.bytes, r.total);
  assert.strictEqual(r.keptBad, 0);
  assert.strictEqual(r.keptSlabSize, SLAB, 'a kept chunk holds its whole (big) slab');
  assert.ok(r.held.mapped - r.held.pooled >= 1, `held: ${JSON.stringify(r.held)}`);
  // 64 MiB went through, yet only a few slabs exist: the others came back.
  assert.ok(r.held.mapped <= 10, `held: ${JSON.stringify(r.held)}`);
  assert.strictEqual(r.dropped.mapped, r.dropped.pooled, `dropped: ${JSON.stringify(r.dropped)}`);
});

test('every stream chunk is one read, straight from a slab (no re-joined copies)', async () => {
  const { reader, writer } = faasin.pipe({ capacity: 1 << 16 });
  const writes = (async () => {
    for (let i = 0; i < 400; i++) {
      if (!writer.write(Buffer.alloc(10000 + i, i & 0xff))) await new Promise((r) => writer.once('drain', r));
    }
    writer.end();
  })();
  let slices = 0;
  let bytes = 0;
  for await (const c of reader) {
    // A chunk Node joined from two reads would be a Buffer of its own.
    assert.ok([SMALL, SLAB].includes(c.buffer.byteLength), `a chunk in a ${c.buffer.byteLength}-byte buffer`);
    assert.ok(c.length <= 1 << 16, `a ${c.length}-byte chunk from a 64 KiB ring`);
    slices++;
    bytes += c.length;
  }
  await writes;
  assert.strictEqual(bytes, 400 * 10000 + (399 * 400) / 2);
  assert.ok(slices > 0);
});

test("small reads stay in small slabs ('data' listeners)", async () => {
  // Reads of at most 4 KiB never move the reader to 4 MiB slabs: a kept
  // chunk of a stream of small messages pins 64 KiB, not megabytes.
  const { reader, writer } = faasin.pipe({ capacity: 4096 });
  const text = Array.from({ length: 30000 }, (_, i) => `${i},`).join('');
  writer.end(text);
  const parts = [];
  reader.on('data', (c) => parts.push(c));
  await new Promise((r) => reader.on('end', r));
  assert.strictEqual(Buffer.concat(parts).toString(), text);
  const sizes = new Set(parts.map((c) => c.buffer.byteLength));
  assert.deepStrictEqual([...sizes], [SMALL]);
  assert.ok(new Set(parts.map((c) => c.buffer)).size >= 2, 'more than one small slab was used');
});

test('readSize: bad values are refused before the fd is taken; small ones cap chunks', async () => {
  const [r, w] = faasin.pipeFds(1 << 16);
  for (const bad of [0, -1, 1.5, '64', NaN]) {
    assert.throws(() => faasin.openReader(r, { readSize: bad }), { code: 'EINVAL' }, String(bad));
    assert.throws(() => faasin.pipe({ readSize: bad }), { code: 'EINVAL' }, String(bad));
  }
  fs.fstatSync(r); // still open and the caller's
  const reader = faasin.openReader(r, { readSize: 1000 });
  const writer = faasin.openWriter(w);
  writer.end(Buffer.alloc(50000, 3));
  let bytes = 0;
  for await (const c of reader) {
    assert.ok(c.length <= 1000, `a ${c.length}-byte chunk with readSize 1000`);
    assert.ok(c.every((b) => b === 3));
    bytes += c.length;
  }
  assert.strictEqual(bytes, 50000);
});

test('the native slab calls refuse bad arguments', () => {
  const { reader, writer } = faasin.pipe({ capacity: 4096 });
  assert.throws(() => faasin._native.newSlab(1 << 30, true), { code: 'EINVAL' });
  assert.throws(() => faasin._native.newSlab(-1, true), { code: 'EINVAL' });
  writer.write('abc');
  const slab = Buffer.alloc(128);
  assert.throws(() => reader._native.readInto(slab, 128, 10), { code: 'EINVAL' }, 'no room at the end');
  assert.throws(() => reader._native.readInto(slab, 200, 10), { code: 'EINVAL' }, 'offset past the end');
  assert.strictEqual(reader._native.readInto(slab, 126, 10), 2, 'a read stops at the end of the target');
  assert.strictEqual(slab.subarray(126).toString(), 'ab');
  reader.destroy();
  writer.destroy();
});
