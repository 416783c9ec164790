'use strict';
// Lambda's response streaming (`awslambda.streamifyResponse`, a global of
// the Node runtime interface client): `count` lines, one at a time, then
// either the end or, with `fail`, an error after the lines began.
/* global awslambda */

exports.handler = awslambda.streamifyResponse(async (event, responseStream) => {
  for (let i = 0; i < event.count; i++) {
    responseStream.write(`line ${i}\n`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  if (event.fail) throw new Error('failed after streaming on purpose');
  responseStream.end();
});
