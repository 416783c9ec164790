'use strict';
// A producer function: writes N sensor readings to its faasout as
// newline-delimited JSON. Usage: producer.js [N]
// Run it in a chain (`faasin run 'node producer.js' 'node consumer.js'`) or
// by hand with FAASOUT_FD set to an endpoint fd (see run.js).
const { pipeline } = require('node:stream/promises');
const { Readable } = require('node:stream');
const faasin = require('faasin');

const n = Number(process.argv[2] ?? 100000);

function* readings() {
  let batch = [];
  for (let i = 0; i < n; i++) {
    batch.push(JSON.stringify({ id: i, sensor: `s${i % 7}`, value: (i * 37) % 1000 }));
    // Batches keep the number of stream chunks (and JS callbacks) low.
    if (batch.length === 1000 || i === n - 1) {
      yield batch.join('\n') + '\n';
      batch = [];
    }
  }
}

pipeline(Readable.from(readings()), faasin.output)
  .then(() => process.stdout.write(JSON.stringify({ produced: n }) + '\n'))
  .catch((err) => {
    process.stderr.write(`producer: ${err.code ?? ''} ${err.message}\n`);
    process.exit(1);
  });
