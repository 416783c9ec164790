'use strict';
// A Lambda handler that is also a FAASIN stage: it streams its faasin to its
// faasout in upper case and returns how many bytes it passed on.
const faasin = require('faasin');

exports.handler = async (event, context) => {
  const { input, output } = faasin.streamsOf(context.awsRequestId);
  let bytes = 0;
  for await (const chunk of input) {
    bytes += chunk.length;
    if (!output.write(Buffer.from(chunk.toString('latin1').toUpperCase(), 'latin1'))) {
      await new Promise((resolve) => output.once('drain', resolve));
    }
  }
  await new Promise((resolve, reject) => output.end((err) => (err ? reject(err) : resolve())));
  return { bytes, query: event.query };
};
