'use strict';
// Runs producer | consumer over a FAASIN stream (what `faasin run` does,
// done by hand) and checks the consumer's result against a direct count.
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const faasin = require('faasin');

const n = Number(process.argv[2] ?? 100000);

function run(script, args, fd, envVar) {
  const child = spawn(process.execPath, [path.join(__dirname, script), ...args], {
    stdio: ['ignore', 'pipe', 'inherit', fd],
    env: { ...process.env, [envVar]: '3' },
  });
  fs.closeSync(fd); // the child's copy is the only one: EOF/EPIPE follow it
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`${script} exited ${code}`))));
  });
}

async function main() {
  const [r, w] = faasin.pipeFds(1 << 16);
  const [produced, result] = await Promise.all([
    run('producer.js', [String(n)], w, 'FAASOUT_FD'),
    run('consumer.js', [], r, 'FAASIN_FD'),
  ]);
  const expected = {};
  for (let i = 0; i < n; i++) expected[`s${i % 7}`] = (expected[`s${i % 7}`] ?? 0) + ((i * 37) % 1000);
  const ok = produced.produced === n && result.count === n && JSON.stringify(result.sums) === JSON.stringify(expected);
  console.log(JSON.stringify({ produced, result }));
  if (!ok) {
    console.error('example: the consumer did not see what the producer sent');
    process.exit(1);
  }
  console.log('example: producer -> consumer over faasin OK');
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
