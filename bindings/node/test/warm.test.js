'use strict';
// Warm functions: a Node process looping over faasin.invocations(), run by
// the real runner (`faasin run --warm N`), and the same program run once.
const { test } = require('node:test');
const assert = require('node:assert');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { PEER } = require('./helpers');

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

const PARAMS_FN = path.join(__dirname, 'fixtures', 'params.js');

test('a warm Node process gets the parameters the runner granted', () => {
  // The Rust peer plays the runner: one invocation per argument ('': none).
  const params = ['{"query": {"q": "ä"}}', '', 'p'.repeat(60_000)];
  const r = spawnSync(PEER, ['runner', ...params, '--', process.execPath, PARAMS_FN], {
    stdio: ['ignore', 'pipe', 'inherit'],
    encoding: 'utf8',
    timeout: 120_000,
  });
  assert.strictEqual(r.status, 0);
  assert.deepStrictEqual(r.stdout.replace(/\n$/, '').split('\n'), [params[0], '<none>', params[2]]);
});

test('a one-shot function takes its parameters from the env', () => {
  const ours = ([k]) => !k.startsWith('FAASIN_') || k === 'FAASIN_NODE_ADDON';
  const env = Object.fromEntries(Object.entries(process.env).filter(ours));
  // Input from the empty stdin; the output stream (unused) on stderr.
  Object.assign(env, { FAASIN_FD: '0', FAASOUT_FD: '2' });
  for (const [value, want] of [[undefined, '<none>'], ['', '<none>'], ['{"a": "ü"}', '{"a": "ü"}']]) {
    const e = value === undefined ? env : { ...env, FAASIN_PARAMS: value };
    const once = spawnSync(process.execPath, [PARAMS_FN], { env: e, encoding: 'utf8', timeout: 60_000 });
    assert.strictEqual(once.status, 0, once.stderr);
    assert.strictEqual(once.stdout, want);
    const code = `process.stdout.write(JSON.stringify(require(${JSON.stringify(ROOT)} + '/bindings/node').params()))`;
    const p = spawnSync(process.execPath, ['-e', code], { env: e, encoding: 'utf8', timeout: 60_000 });
    assert.strictEqual(p.status, 0, p.stderr);
    assert.deepStrictEqual(JSON.parse(p.stdout), value || null);
  }
});
