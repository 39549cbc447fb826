import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { PlanChangedError } from '../src/plan/planner.js';
import { createRowMediaReader, MediaChangedError } from '../src/send/media-read.js';
import type { OutgoingMessage } from '../src/store/types.js';
import { tempDir } from './helpers/tmp.js';

const PDF = readFileSync(fileURLToPath(new URL('./fixtures/media/invoice.pdf', import.meta.url)));
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

function msg(line: number, mediaFile: string, mediaSha256: string): OutgoingMessage {
  return { id: line, line, phone: `6281${line}`, text: 'x', payload: null, requestId: `r${line}`, attempts: 0, timezone: null, mediaFile, mediaSha256 };
}

describe('reading each row\'s media when it is sent (issue 11)', () => {
  it('returns the planned bytes, holds at most the budget in memory, and refuses a changed or vanished file with a plan-changed error', async () => {
    const dir = tempDir();
    const files = Array.from({ length: 6 }, (_, i) => {
      const bytes = Buffer.concat([PDF, Buffer.alloc(1024 * (i + 1), 0x20), Buffer.from(`%${i}\n`)]);
      writeFileSync(join(dir, `f${i}.pdf`), bytes);
      return bytes;
    });
    const read = createRowMediaReader({ baseDir: dir, type: 'document', maxBytes: undefined, budgetBytes: 3 * 1024 });
    // Two files reach the 3 KB budget; the third waits until they are released.
    const a = await read(msg(1, 'f0.pdf', sha(files[0]!)));
    const b = await read(msg(2, 'f1.pdf', sha(files[1]!)));
    expect(Buffer.compare(Buffer.from(a!.media.data), files[0]!)).toBe(0);
    expect(a!.media.contentType).toBe('application/pdf');
    let third: unknown;
    const pending = read(msg(3, 'f2.pdf', sha(files[2]!))).then((r) => (third = r));
    await new Promise((r) => setTimeout(r, 50));
    expect(third).toBeUndefined();
    a!.release();
    b!.release();
    await pending;
    expect(third).toBeDefined();
    (third as { release: () => void }).release();

    writeFileSync(join(dir, 'f3.pdf'), Buffer.concat([files[3]!, Buffer.from('%changed\n')]));
    const changed = await read(msg(4, 'f3.pdf', sha(files[3]!))).catch((e: unknown) => e);
    expect(changed).toBeInstanceOf(MediaChangedError);
    expect(changed).toBeInstanceOf(PlanChangedError);
    expect((changed as MediaChangedError).files).toEqual(['f3.pdf']);
    expect((changed as Error).message).toContain('f3.pdf (line 4) changed after planning');

    rmSync(join(dir, 'f4.pdf'));
    const gone = await read(msg(5, 'f4.pdf', sha(files[4]!))).catch((e: unknown) => e);
    expect(gone).toBeInstanceOf(MediaChangedError);
    expect((gone as Error).message).toContain('f4.pdf (line 5) cannot be sent as planned');
    // A file replaced by a named pipe is refused at once instead of blocking the read (and the run) for ever.
    rmSync(join(dir, 'f5.pdf'));
    execFileSync('mkfifo', [join(dir, 'f5.pdf')]);
    const pipe = await read(msg(6, 'f5.pdf', sha(files[5]!))).catch((e: unknown) => e);
    expect(pipe).toBeInstanceOf(MediaChangedError);
    expect((pipe as Error).message).toContain('named pipe');
    rmSync(join(dir, 'f5.pdf'));
    writeFileSync(join(dir, 'f5.pdf'), files[5]!);
    // A later read still works after failures.
    expect(await read(msg(6, 'f5.pdf', sha(files[5]!)))).toBeDefined();
    // A row without its own file has nothing to read.
    expect(await read({ ...msg(7, '', ''), mediaFile: null, mediaSha256: null })).toBeUndefined();
  });
});
