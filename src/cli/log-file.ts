import { closeSync, fchmodSync, fstatSync, openSync, write } from 'node:fs';
import { Writable } from 'node:stream';

/**
 * The `--log-file` writer: NDJSON appended to FILE, mode 0600 (set on a new file, and tightened on an existing one
 * that is looser: events name recipients). A log that cannot be opened or written (disk full, permissions) never
 * stops the run: `warn` is called once, logging stops, and the run carries on.
 */
export function openLogFile(path: string, warn: (text: string) => void): Writable {
  let fd: number | undefined;
  let warned = false;
  const fail = (error: unknown): void => {
    const code = (error as NodeJS.ErrnoException).code ?? String(error);
    if (!warned) warn(`rk-broadcast: cannot write the log file ${path} (${code}); carrying on without it.`);
    warned = true;
    if (fd !== undefined) closeQuietly(fd);
    fd = undefined;
  };
  try {
    fd = openSync(path, 'a', 0o600);
  } catch (error) {
    fail(error);
  }
  if (fd !== undefined) {
    try {
      if ((fstatSync(fd).mode & 0o077) !== 0) fchmodSync(fd, 0o600);
    } catch (error) {
      // Someone else's file: log to it as asked, but say that its mode stays as it is.
      warn(`rk-broadcast: cannot make the log file ${path} private (mode 0600): ${(error as NodeJS.ErrnoException).code ?? String(error)}.`);
    }
  }
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      if (fd === undefined) return done();
      writeAll(fd, chunk, (error) => {
        if (error) fail(error);
        done(); // never an 'error' event: a broken log must not crash the run
      });
    },
    final(done) {
      if (fd !== undefined) closeQuietly(fd);
      fd = undefined;
      done();
    },
  });
}

function writeAll(fd: number, chunk: Buffer, done: (error?: unknown) => void): void {
  write(fd, chunk, 0, chunk.length, null, (error, written) => {
    if (error) return done(error);
    if (written < chunk.length) return writeAll(fd, chunk.subarray(written), done);
    done();
  });
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // already closed
  }
}
