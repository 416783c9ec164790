'use strict';
// 10 000 pipes created and dropped in a child run with --expose-gc: no fd,
// ring mapping or waiter thread may be left behind.
const test = require('node:test');
const assert = require('node:assert');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

test('10 000 dropped pipes leave no fd, mapping, thread or slab behind', () => {
  const r = spawnSync(process.execPath, ['--expose-gc', path.join(__dirname, 'fixtures', 'leak.js')], {
    encoding: 'utf8',
    timeout: 180000,
  });
  assert.strictEqual(r.status, 0, r.stderr);
  const { base, after, slabs, trimmed } = JSON.parse(r.stdout);
  assert.strictEqual(after.fds, base.fds, `fds: ${base.fds} before, ${after.fds} after`);
  assert.strictEqual(after.rings, base.rings, `faasin-ring mappings: ${base.rings} before, ${after.rings} after`);
  assert.ok(after.threads <= base.threads + 1, `threads: ${base.threads} before, ${after.threads} after`);
  assert.ok(slabs.takes >= 100, `the stream reads took ${slabs.takes} slabs`);
  assert.strictEqual(slabs.mapped, slabs.pooled, `slabs still in use: ${JSON.stringify(slabs)}`);
  assert.strictEqual(trimmed.mapped, 0, `slabs left after the trim: ${JSON.stringify(trimmed)}`);
});
