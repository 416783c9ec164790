'use strict';
// A consumer function: reads newline-delimited JSON readings from its faasin
// and returns (on stdout, as JSON) the count and the per-sensor sums.
const faasin = require('faasin');

async function main() {
  const sums = {};
  let count = 0;
  let rest = '';
  for await (const chunk of faasin.input) {
    const lines = (rest + chunk.toString('utf8')).split('\n');
    rest = lines.pop();
    for (const line of lines) {
      if (line === '') continue;
      const r = JSON.parse(line);
      sums[r.sensor] = (sums[r.sensor] ?? 0) + r.value;
      count++;
    }
  }
  if (rest !== '') throw new Error(`truncated last line: ${rest.slice(0, 40)}`);
  process.stdout.write(JSON.stringify({ count, sums }) + '\n');
}

main().catch((err) => {
  process.stderr.write(`consumer: ${err.code ?? ''} ${err.message}\n`);
  process.exit(1);
});
