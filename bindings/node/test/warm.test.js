'use strict';
// Warm functions: a Node process looping over faasin.invocations(), run by
// the real runner (`faasin run --warm N`), and the same program run once.
const { test } = require('node:test');
const assert = require('node:assert');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..', '..', '..');
const CLI = process.env.FAASIN_CLI || path.join(ROOT, 'target', 'release', 'faasin');
const FN = path.join(__dirname, 'fixtures', 'warm.js');

function run(args) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'faasin-warm-'));
  const input = path.join(dir, 'in.txt');
  const output = path.join(dir, 'out.txt');
  const report = path.join(dir, 'report.json');
  fs.writeFileSync(input, 'hello faasin');
  const r = spawnSync(CLI, ['run', '-q', '-i', input, '-o', output, '--report', report, ...args], {
    stdio: ['ignore', 'ignore', 'inherit'],
    timeout: 120_000,
  });
  const rep = JSON.parse(fs.readFileSync(report, 'utf8'));
  const out = fs.existsSync(output) ? fs.readFileSync(output, 'utf8') : '';
  fs.rmSync(dir, { recursive: true, force: true });
  return { status: r.status, rep, out };
}

const cmd = (...args) => [process.execPath, FN, ...args].map((a) => `'${a}'`).join(' ');

test('a warm Node process serves every invocation with fresh streams', () => {
  const { status, rep, out } = run(['--warm', '3', cmd()]);
  assert.strictEqual(status, 0, JSON.stringify(rep));
  assert.strictEqual(rep.ok, true);
  assert.strictEqual(rep.invocations.length, 3);
  for (const inv of rep.invocations) assert.deepStrictEqual(inv.return_values, [{ bytes: 12 }]);
  assert.strictEqual(out, 'HELLO FAASIN'.repeat(3));
});

test('an invocation closed unfinished fails the run and names the function', () => {
  const { status, rep } = run(['--warm', '3', cmd('drop')]);
  assert.notStrictEqual(status, 0);
  assert.strictEqual(rep.ok, false);
  assert.match(rep.error, /invocation 2: function 1 \(node\) broke off/);
});

test('not started warm, the loop runs once and prints the return value', () => {
  const { status, rep, out } = run([cmd()]);
  assert.strictEqual(status, 0, JSON.stringify(rep));
  assert.deepStrictEqual(rep.functions[0].return_value, { bytes: 12 });
  assert.strictEqual(out, 'HELLO FAASIN');
});
