// Type-checked (tsc --noEmit) against index.d.ts: the API as a TypeScript
// user writes it. Not executed.
import * as faasin from 'faasin';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';

async function passThroughUpper(): Promise<void> {
  const upper = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      cb(null, Buffer.from(chunk.toString().toUpperCase()));
    },
  });
  await pipeline(faasin.input, upper, faasin.output);
}

async function local(): Promise<number> {
  const { reader, writer } = faasin.pipe({ capacity: 1 << 20, highWaterMark: 1 << 16 });
  const ok: boolean = writer.write(new Uint8Array([1, 2, 3]));
  if (!ok) await new Promise<void>((r) => writer.once('drain', r));
  writer.end();
  let n = 0;
  for await (const chunk of reader) {
    const b: Buffer = chunk;
    n += b.length;
  }
  return n;
}

async function zeroCopy(): Promise<void> {
  const [rfd, wfd]: [number, number] = faasin.pipeFds(4096);
  const reader: faasin.FaasinReader = faasin.openReader(rfd, { readSize: 65536, timeout: 5000 });
  reader.setTimeout(null).setTimeout(1000);
  const writer: faasin.FaasinWriter = faasin.openWriter(wfd);
  const grant: Buffer = await writer.reserveAsync(16);
  grant.write('hello');
  writer.commit(5);
  const maybe: Buffer | null = writer.reserve(1);
  if (maybe !== null) writer.commit(0);
  await reader.waitReadable();
  const view = reader.peek();
  if (view !== null) reader.release(view.length);
  const avail: number = reader.available();
  const cap: number | null = reader.capacity;
  const ring: boolean = writer.isRing;
  void [avail, cap, ring, faasin.DEFAULT_CAPACITY];
  writer.on('error', (err: faasin.FaasinError) => {
    if (err.code === 'EPIPE') reader.destroy();
  });
  await writer.waitWritable();
}

async function warm(): Promise<void> {
  for await (const inv of faasin.invocations()) {
    const i: faasin.FaasinInvocation = inv;
    let n = 0;
    for await (const chunk of i.input) {
      n += (chunk as Buffer).length;
      i.output.write(chunk);
    }
    if (n === 0) {
      i.close();
      continue;
    }
    const params: string | null = i.params;
    await i.finish({ bytes: n, params: params === null ? null : JSON.parse(params) });
  }
}

function oneShotParams(): unknown {
  const params: string | null = faasin.params();
  return params === null ? {} : JSON.parse(params);
}

export { passThroughUpper, local, zeroCopy, warm, oneShotParams };
