'use strict';
// Node-to-Node throughput: a child Node process writes, this one reads.
// Transports side by side: faasin (stream reads, and zero-copy peek/release),
// a `net` unix-socket connection, and the child's stdout pipe.
//
//   node benches/node_throughput.js [TOTAL_MIB=1024] [REPS=5]
//   BENCH_ONLY=faasin ... runs only the faasin rows (plus the unix-socket baseline)
//   FAASIN_NODE_MODULE=DIR ... uses the binding in DIR (to compare builds)
//
// Needs the addon built (bash bindings/node/build.sh). Prints the median
// MiB/s of REPS runs per transport and chunk size, and its ratio to the unix
// socket. Every row sends the same bytes in the same chunk size from a child
// Node process; the consumer receives every byte (counted, checked against
// the total). Stream rows get each byte in a new Buffer of their own; the
// peek + copy out row copies every byte into one Buffer it reuses (the cost
// of the copy without a fresh allocation per chunk); the peek/release row
// borrows the ring's bytes and neither copies nor touches them. Time runs
// from the end of a warm-up prefix (a quarter of the run, at most 64 MiB) to
// EOF, so neither process start-up nor the writer's JIT warm-up is counted.
const { execFileSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
// FAASIN_NODE_MODULE=dir loads another copy of the binding (A/B runs).
const faasin = require(process.env.FAASIN_NODE_MODULE || path.join(__dirname, '..', 'bindings', 'node'));

const CHUNKS = [64 * 1024, 1024 * 1024];

async function writeAll(stream, chunk, total) {
  const buf = Buffer.alloc(chunk, 0x5a);
  for (let left = total; left > 0; left -= chunk) {
    if (!stream.write(left >= chunk ? buf : buf.subarray(0, left))) {
      await new Promise((r) => stream.once('drain', r));
    }
  }
  await new Promise((r) => stream.end(r));
}

async function child(transport, chunk, total, sockPath) {
  if (transport === 'faasin') return writeAll(faasin.output, chunk, total);
  if (transport === 'stdio') return writeAll(process.stdout, chunk, total);
  const sock = net.connect(sockPath);
  await new Promise((r) => sock.once('connect', r));
  return writeAll(sock, chunk, total);
}

// Steady-state throughput: the clock starts once a warm-up prefix (a quarter
// of the run, at most 64 MiB) has arrived and stops when the reader sees EOF.
// The prefix keeps the writer child's own start-up (its JIT compiling the
// write loop, its first allocations: some 20 ms, alike for every transport)
// out of the figure; counted in, it weighed four times as much on a row that
// moves 4 GiB/s as on one that moves 1 GiB/s, and squeezed the ratios of
// short runs. EOF is taken when the reader sees it, not when the writer's
// process has exited, for the same reason (the child's teardown).
function timed(total) {
  const warmup = Math.min(Math.floor(total / 4), 64 * 1024 * 1024);
  let start = 0n;
  let from = 0;
  let end = 0n;
  let got = 0;
  return {
    add(n) {
      got += n;
      if (start === 0n && got >= warmup) {
        start = process.hrtime.bigint();
        from = got;
      }
    },
    eof() {
      end = process.hrtime.bigint();
    },
    // Seconds the whole run would take at the measured rate.
    result() {
      if (got !== total) throw new Error(`received ${got} of ${total} bytes`);
      if (end === 0n) throw new Error('the reader never saw EOF');
      if (got - from < total / 2) throw new Error(`one chunk carried ${got - from} bytes past the warm-up: use a longer run`);
      return ((Number(end - start) / 1e9) * total) / (got - from);
    },
  };
}

function exited(proc) {
  return new Promise((resolve, reject) =>
    proc.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`writer exited ${code}`)))),
  );
}

// mode: 'stream' (for await over the Readable: a new Buffer per chunk),
// 'peek' (borrow + release, bytes untouched), 'peek-copy' (borrow, copy
// every byte into one Buffer the consumer reuses, release).
async function runFaasin(chunk, total, mode) {
  const [r, w] = faasin.pipeFds(faasin.DEFAULT_CAPACITY);
  const proc = spawn(process.execPath, [__filename, '--child', 'faasin', String(chunk), String(total)], {
    stdio: ['ignore', 'ignore', 'inherit', w],
    env: { ...process.env, FAASOUT_FD: '3' },
  });
  fs.closeSync(w);
  const reader = faasin.openReader(r);
  const t = timed(total);
  if (mode !== 'stream') {
    const scratch = mode === 'peek-copy' ? Buffer.alloc(reader.capacity) : null;
    for (;;) {
      const view = reader.peek();
      if (view === null) {
        await reader.waitReadable();
        continue;
      }
      if (view.length === 0) break;
      t.add(view.length);
      if (scratch !== null) view.copy(scratch);
      reader.release(view.length);
    }
    t.eof();
    reader.destroy();
  } else {
    for await (const c of reader) t.add(c.length);
    t.eof();
  }
  await exited(proc);
  return t.result();
}

async function runUnix(chunk, total) {
  const sockPath = path.join(os.tmpdir(), `faasin-bench-${process.pid}.sock`);
  fs.rmSync(sockPath, { force: true });
  const server = net.createServer();
  await new Promise((r) => server.listen(sockPath, r));
  const proc = spawn(process.execPath, [__filename, '--child', 'unix', String(chunk), String(total), sockPath], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const conn = await new Promise((r) => server.once('connection', r));
  const t = timed(total);
  for await (const c of conn) t.add(c.length);
  t.eof();
  await exited(proc);
  server.close();
  fs.rmSync(sockPath, { force: true });
  return t.result();
}

async function runStdio(chunk, total) {
  const proc = spawn(process.execPath, [__filename, '--child', 'stdio', String(chunk), String(total)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const t = timed(total);
  for await (const c of proc.stdout) t.add(c.length);
  t.eof();
  await exited(proc);
  return t.result();
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

// The host state around each measurement (benches/src/host_state.rs): the
// `host_state` program times a bare cache-line round trip between CPU 0 and
// CPU 1 and says `near` or `far`; the ring's rate follows it, a socket's
// much less. null (and no split table) when the program is not built.
const HOST_STATE = process.env.FAASIN_HOST_STATE || path.join(__dirname, '..', 'target', 'release', 'host_state');
let hostStateWarned = false;
function hostState() {
  try {
    const out = execFileSync(HOST_STATE, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const [, state] = out.trim().split(' ');
    return state ?? null;
  } catch {
    if (!hostStateWarned) {
      hostStateWarned = true;
      console.log('(no host-state probe: build it with `cargo build --release -p faasin-benches --bin host_state`)');
    }
    return null;
  }
}

async function main() {
  const totalMiB = Number(process.argv[2] ?? 1024);
  const reps = Number(process.argv[3] ?? 5);
  const total = totalMiB * 1024 * 1024;
  const only = process.env.BENCH_ONLY;
  const transports = [
    ['faasin (stream)', (c, n) => runFaasin(c, n, 'stream')],
    ['faasin (peek + copy out)', (c, n) => runFaasin(c, n, 'peek-copy')],
    ['faasin (peek/release)', (c, n) => runFaasin(c, n, 'peek')],
    ['net unix socket', (c, n) => runUnix(c, n)],
    ['child stdio pipe', (c, n) => runStdio(c, n)],
  ].filter(([name]) => !only || name === 'net unix socket' || name.startsWith(only));
  console.log(
    `Node ${process.version}, ${totalMiB} MiB per run, median of ${reps} (transports alternate), ${os.cpus().length} CPUs`,
  );
  const rows = [];
  const stateRows = [];
  for (const chunk of CHUNKS) {
    // One untimed pass per transport first: JIT, page cache and allocator
    // warm-up would otherwise all land on whichever row runs first.
    for (const [, run] of transports) await run(chunk, Math.min(total, 16 * 1024 * 1024));
    const secs = Object.fromEntries(transports.map(([name]) => [name, []]));
    const states = Object.fromEntries(transports.map(([name]) => [name, []]));
    // Rounds alternate the transports, so a burst of load on this shared
    // machine hits every row alike instead of one row's whole series.
    for (let i = 0; i < reps; i++) {
      for (const [name, run] of transports) {
        const before = hostState();
        secs[name].push(await run(chunk, total));
        const after = hostState();
        states[name].push(before === null || after === null ? null : before === after ? before : 'mixed');
      }
    }
    const mibps = Object.fromEntries(transports.map(([name]) => [name, totalMiB / median(secs[name])]));
    for (const [name] of transports) {
      const split = (st) => secs[name].filter((_, i) => states[name][i] === st).map((x) => totalMiB / x);
      const unix = (st) => secs['net unix socket'].filter((_, i) => states['net unix socket'][i] === st).map((x) => totalMiB / x);
      const cell = (st) => {
        const v = split(st);
        if (v.length === 0) return ['- (0)', ''];
        const u = unix(st);
        return [`${median(v).toFixed(0)} (${v.length})`, u.length ? (median(v) / median(u)).toFixed(2) : ''];
      };
      stateRows.push([name, `${chunk / 1024} KiB`, ...cell('near'), ...cell('far')]);
      const runs = secs[name].map((x) => totalMiB / x);
      rows.push([
        name,
        `${chunk / 1024} KiB`,
        mibps[name].toFixed(0),
        (mibps[name] / mibps['net unix socket']).toFixed(2),
        `${Math.min(...runs).toFixed(0)}-${Math.max(...runs).toFixed(0)}`,
      ]);
    }
  }
  printTable(['transport', 'chunk', 'MiB/s', 'x unix socket', 'min-max MiB/s'], rows);
  if (stateRows.some((r) => r[2] !== '- (0)' || r[4] !== '- (0)')) {
    console.log('\nBy host state (bare cache-line round trip before and after each run, both near or both far):');
    printTable(['transport', 'chunk', 'near MiB/s (n)', 'x unix socket', 'far MiB/s (n)', 'x unix socket'], stateRows);
  }
}

function printTable(head, rows) {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells) => '| ' + cells.map((c, i) => c.padEnd(widths[i])).join(' | ') + ' |';
  console.log(line(head));
  console.log('|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|');
  for (const r of rows) console.log(line(r));
}

if (process.argv[2] === '--child') {
  const [, , , transport, chunk, total, sockPath] = process.argv;
  child(transport, Number(chunk), Number(total), sockPath).catch((err) => {
    console.error(err);
    process.exit(1);
  });
} else {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
