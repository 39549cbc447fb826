// Resuming a million-row campaign must not re-read its 50 MB CSV just to learn it has not changed (the SHA-256
// was ~0.1-0.2 s of the ~0.5 s budget to the first send). Why a stat can stand in for the hash here:
//
// - Every write to a file's bytes sets its ctime (status change time) to the current time, and so does every
//   change of its times (`touch -d`, `cp -p`, `rsync -t` can set mtime back, never ctime). An editor's "save"
//   that writes a new file and renames it over the old one gives a new inode. So the same device, inode, size,
//   mtime and ctime (nanoseconds) mean nobody has written the file since it was hashed.
// - Except within one tick of a coarse clock: a write in the same tick as the hash leaves the times as they were
//   (git calls this "racily clean"). A stat is only recorded when both times are at least RACY_MS older than the
//   moment after hashing, and when it did not change while the file was read; otherwise the next run hashes.
//   RACY_MS covers 2 s timestamp granularity (FAT, some network file systems).
// - A different key (another machine, a restored copy, a new inode, any write) or no recorded key means a full
//   hash, exactly as before. So a changed CSV is still detected before planning or sending anything: the
//   comparison happens in `ensurePlan`, before any row is sent.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';

const RACY_MS = 3_000;

/** `dev:ino:size:mtimeNs:ctimeNs` of `path`, and the newest of its two times in ms. */
async function statOf(path: string): Promise<{ key: string; newestMs: number }> {
  const s = await stat(path, { bigint: true });
  return {
    key: `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`,
    newestMs: Number((s.mtimeNs > s.ctimeNs ? s.mtimeNs : s.ctimeNs) / 1_000_000n),
  };
}

/** The current stat key of `path` (see above), to compare with one recorded with its hash. */
export async function csvStatKey(path: string): Promise<string> {
  return (await statOf(path)).key;
}

/**
 * SHA-256 of `path`, with the stat key to record next to it, or undefined when the file changed while it was
 * read or was written too recently for its times to be trusted.
 */
export async function hashFileWithStat(path: string, now: () => number = Date.now): Promise<{ hash: string; stat: string | undefined }> {
  const before = await statOf(path);
  const hash = createHash('sha256');
  // 1 MiB reads: half the time of the default 64 KiB for a big recipient file.
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  const digest = hash.digest('hex');
  const after = await statOf(path);
  const trusted = after.key === before.key && now() - after.newestMs >= RACY_MS;
  return { hash: digest, stat: trusted ? after.key : undefined };
}

/**
 * The recipient CSV's fingerprint: `known.csv` when `known.csvStat` still matches the file, else a full hash.
 * `known` is the fingerprint stored with the campaign's plan, if any.
 */
export async function csvFingerprint(
  path: string,
  known: { csv: string; csvStat?: string | undefined } | null | undefined,
  now: () => number = Date.now,
): Promise<{ csv: string; csvStat?: string }> {
  if (known?.csvStat !== undefined && (await csvStatKey(path)) === known.csvStat) return { csv: known.csv, csvStat: known.csvStat };
  const { hash, stat: key } = await hashFileWithStat(path, now);
  return key === undefined ? { csv: hash } : { csv: hash, csvStat: key };
}
