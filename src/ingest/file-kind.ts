import type { Stats } from 'node:fs';

/**
 * What a path that is not a regular file is, for messages: `a directory`, `a FIFO (named pipe)`, `a socket`,
 * `a character device`, `a block device`; undefined for a regular file.
 */
export function describeNonFile(info: Stats): string | undefined {
  if (info.isFile()) return undefined;
  if (info.isDirectory()) return 'a directory';
  if (info.isFIFO()) return 'a FIFO (named pipe)';
  if (info.isSocket()) return 'a socket';
  if (info.isCharacterDevice()) return 'a character device';
  if (info.isBlockDevice()) return 'a block device';
  return 'not a regular file';
}

/** Why a file could not be opened or read, in words, from the error's code. */
export function describeOpenError(err: unknown): string {
  const code = (err as { code?: string }).code;
  switch (code) {
    case 'ENOENT':
      return 'not found';
    case 'EACCES':
    case 'EPERM':
      return `permission denied (${code})`;
    case 'ENOTDIR':
      return 'not found (a part of the path is a file, not a folder)';
    case 'ELOOP':
      return 'a symbolic link that points to itself (ELOOP)';
    case 'EISDIR':
      return 'a directory';
    default:
      return code ?? (err instanceof Error ? err.message : String(err));
  }
}

/** What to do about `describeOpenError(err)`, or undefined when the caller's usual hint fits. */
export function openErrorHint(err: unknown, file: string): string | undefined {
  const code = (err as { code?: string }).code;
  if (code === 'EACCES' || code === 'EPERM') {
    return `Make the file readable by the user running rk-broadcast (e.g. chmod u+r ${file}), or copy it to a folder you own.`;
  }
  return undefined;
}
