'use strict';
// The Node stage of the demo chain: forwards its faasin to its faasout (a
// stream pipeline, with backpressure) and returns how many bytes went through.
const { pipeline } = require('node:stream/promises');
const faasin = require('faasin');

async function main() {
  let bytes = 0;
  await pipeline(
    faasin.input,
    async function* count(source) {
      for await (const chunk of source) {
        bytes += chunk.length;
        yield chunk;
      }
    },
    faasin.output,
  );
  process.stdout.write(JSON.stringify({ bytes }) + '\n');
}

main().catch((err) => {
  process.stderr.write(`relay.js: ${err.code ?? ''} ${err.message}\n`);
  process.exit(1);
});
