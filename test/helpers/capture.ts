import { PassThrough } from 'node:stream';

/** Concatenates a report's chunks. */
export async function collect(chunks: AsyncIterable<string>): Promise<string> {
  let out = '';
  for await (const c of chunks) out += c;
  return out;
}

/** A CLI io for in-process `main()` calls, capturing stdout and stderr. */
export function captureIo(env: Record<string, string>, cwd: string) {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (c: Buffer) => (out += c.toString()));
  stderr.on('data', (c: Buffer) => (err += c.toString()));
  return { io: { stdout, stderr, env, cwd }, out: () => out, err: () => err };
}
