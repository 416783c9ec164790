'use strict';
// ETL stage 3: the aggregate (one JSON document) from faasin, a plain-text
// report to faasout: one row per (country, endpoint), totals, requests per
// hour and per status. Returns (stdout) {"groups", "bytes", "first_out_unix"}.
const faasin = require('faasin');

function pad(s, n, right) {
  s = String(s);
  return right ? s.padStart(n) : s.padEnd(n);
}

function meanMs(sumUs, count) {
  // Integer arithmetic, rounded half up, so any checker can reproduce it exactly.
  const thousandths = (BigInt(sumUs) * 1000n + 500n * BigInt(count)) / (1000n * BigInt(count));
  return `${thousandths / 1000n}.${String(thousandths % 1000n).padStart(3, '0')}`;
}

async function main() {
  const parts = [];
  for await (const chunk of faasin.input) parts.push(chunk);
  const doc = JSON.parse(Buffer.concat(parts).toString('utf8'));
  if (!Array.isArray(doc.groups) || !Array.isArray(doc.hours)) throw new Error('aggregate: missing groups or hours');

  const groups = [...doc.groups].sort((a, b) => a.country.localeCompare(b.country) || a.endpoint.localeCompare(b.endpoint));
  const lines = [`ETL report: ${doc.records} requests`, ''];
  lines.push(['country', 'endpoint'.padEnd(17), 'requests'.padStart(9), 'errors'.padStart(7),
    'mean_ms'.padStart(9), 'max_ms'.padStart(9), 'bytes'.padStart(12)].join(' '));
  let total = 0n;
  let errors = 0n;
  let bytes = 0n;
  for (const g of groups) {
    lines.push([pad(g.country, 7), pad(g.endpoint, 17), pad(g.count, 9, true), pad(g.errors, 7, true),
      pad(meanMs(g.latency_us_sum, g.count), 9, true), pad(meanMs(g.latency_us_max, 1), 9, true),
      pad(g.bytes, 12, true)].join(' '));
    total += BigInt(g.count);
    errors += BigInt(g.errors);
    bytes += BigInt(g.bytes);
  }
  lines.push(`TOTAL requests=${total} errors=${errors} bytes=${bytes}`, '');
  lines.push('requests per hour: ' + doc.hours.join(' '));
  lines.push('requests per status: ' + Object.entries(doc.status || {}).map(([k, v]) => `${k}=${v}`).join(' '));
  const text = Buffer.from(lines.join('\n') + '\n');

  await new Promise((resolve, reject) => {
    faasin.output.on('error', reject);
    faasin.output.end(text, resolve);
  });
  process.stdout.write(JSON.stringify({ groups: groups.length, bytes: text.length, first_out_unix: Date.now() / 1000 }) + '\n');
}

main().catch((err) => {
  console.error(`format: ${err.stack || err}`);
  process.exit(1);
});
