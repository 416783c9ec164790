'use strict';
const { spawn } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..', '..', '..');
const FIXTURES = path.join(__dirname, 'fixtures');
const PEER = process.env.FAASIN_PEER || path.join(ROOT, 'target', 'release', 'examples', 'peer');

/**
 * Spawns `cmd args` with `fd` at the child's fd 3 and `envVar=3`, closes the
 * parent's copy of `fd` (so EOF / EPIPE follow the child's lifetime), and
 * collects stdout.
 */
function spawnWithEndpoint(cmd, args, fd, envVar) {
  const child = spawn(cmd, args, {
    stdio: ['ignore', 'pipe', 'inherit', fd],
    env: { ...process.env, [envVar]: '3' },
  });
  fs.closeSync(fd);
  let out = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (s) => {
    out += s;
    child.emit('stdout', out);
  });
  child.done = new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, out: out.trim() }));
  });
  child.waitFor = (re) =>
    new Promise((resolve) => {
      if (re.test(out)) return resolve(out);
      const on = (s) => {
        if (re.test(s)) {
          child.off('stdout', on);
          resolve(s);
        }
      };
      child.on('stdout', on);
    });
  return child;
}

function nodeChild(script, args, fd, envVar) {
  return spawnWithEndpoint(process.execPath, [path.join(FIXTURES, script), ...args], fd, envVar);
}

/** Reads a Readable to the end: { bytes, sha }. */
async function drain(readable) {
  const hash = crypto.createHash('sha256');
  let bytes = 0;
  for await (const chunk of readable) {
    hash.update(chunk);
    bytes += chunk.length;
  }
  return { bytes, sha: hash.digest('hex') };
}

/** Writes `total` random bytes with backpressure, then ends: { bytes, sha }. */
async function produce(writable, total, chunk = 1 << 20) {
  const hash = crypto.createHash('sha256');
  let left = total;
  while (left > 0) {
    const buf = crypto.randomFillSync(Buffer.allocUnsafe(Math.min(left, chunk)));
    hash.update(buf);
    left -= buf.length;
    if (!writable.write(buf)) {
      await new Promise((resolve, reject) => {
        const onErr = (e) => reject(e);
        writable.once('error', onErr);
        writable.once('drain', () => {
          writable.off('error', onErr);
          resolve();
        });
      });
    }
  }
  await new Promise((resolve, reject) => writable.end((err) => (err ? reject(err) : resolve())));
  return { bytes: total, sha: hash.digest('hex') };
}

function fdCount() {
  return fs.readdirSync('/proc/self/fd').length;
}

module.exports = { ROOT, FIXTURES, PEER, spawnWithEndpoint, nodeChild, drain, produce, fdCount };
