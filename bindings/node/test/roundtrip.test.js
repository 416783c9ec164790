'use strict';
// 256 MiB through a ring between processes, checked by SHA-256 on both sides.
const test = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const faasin = require('..');
const { PEER, spawnWithEndpoint, nodeChild, drain, produce } = require('./helpers');

const BIG = 256 * 1024 * 1024;

test('256 MiB from a Node child to this Node process', async () => {
  const [r, w] = faasin.pipeFds();
  const child = nodeChild('writer.js', [String(BIG)], w, 'FAASOUT_FD');
  const got = await drain(faasin.openReader(r));
  const { code, out } = await child.done;
  assert.strictEqual(code, 0);
  assert.strictEqual(`${got.bytes} ${got.sha}`, out);
  assert.strictEqual(got.bytes, BIG);
});

test('256 MiB from this Node process to a Node child', async () => {
  const [r, w] = faasin.pipeFds(1 << 16);
  const child = nodeChild('reader.js', [], r, 'FAASIN_FD');
  const sent = await produce(faasin.openWriter(w), BIG, 64 * 1024);
  const { code, out } = await child.done;
  assert.strictEqual(code, 0);
  assert.strictEqual(out, `${sent.bytes} ${sent.sha}`);
});

test('256 MiB from the Rust peer to Node', async () => {
  assert.ok(fs.existsSync(PEER), `Rust peer not built at ${PEER}`);
  const [r, w] = faasin.pipeFds();
  const child = spawnWithEndpoint(PEER, ['write', String(BIG), '7', String(1 << 20)], w, 'FAASOUT_FD');
  const got = await drain(faasin.openReader(r));
  const { code, out } = await child.done;
  assert.strictEqual(code, 0);
  assert.strictEqual(`${got.bytes} ${got.sha}`, out);
});

test('256 MiB from Node to the Rust peer', async () => {
  assert.ok(fs.existsSync(PEER), `Rust peer not built at ${PEER}`);
  const [r, w] = faasin.pipeFds();
  const child = spawnWithEndpoint(PEER, ['read'], r, 'FAASIN_FD');
  const sent = await produce(faasin.openWriter(w), BIG);
  const { code, out } = await child.done;
  assert.strictEqual(code, 0);
  assert.strictEqual(out, `${sent.bytes} ${sent.sha}`);
});
