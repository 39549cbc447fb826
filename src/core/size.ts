/** Units a size may use, in bytes: binary, as file managers on Windows count (1 MB = 1,048,576 bytes). */
const UNIT_BYTES: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 };
const SIZE = /^(\d+(?:\.\d+)?)\s*(b|kb|mb|gb)?$/i;

/**
 * Parses a size such as `20MB`, `500 KB`, `1.5GB` or `1048576` (bytes) into bytes, or undefined when the text is
 * not one. KB, MB and GB are binary (1 MB = 1,048,576 bytes).
 */
export function parseSizeText(text: string): number | undefined {
  const m = SIZE.exec(text.trim());
  if (!m) return undefined;
  return Math.round(Number(m[1]) * UNIT_BYTES[(m[2] ?? 'b').toLowerCase()]!);
}

/**
 * A size for people, to one decimal in binary units: `200 MB`, `4.8 MB`, `512 KB`, `900 bytes`. Near a limit the
 * rounding can hide a few bytes, so messages about limits also give the exact byte count.
 */
export function formatSize(bytes: number): string {
  for (const [name, size] of [['GB', 1024 ** 3], ['MB', 1024 ** 2], ['KB', 1024]] as const) {
    if (bytes >= size) return `${Math.round((bytes / size) * 10) / 10} ${name}`;
  }
  return `${bytes} bytes`;
}
