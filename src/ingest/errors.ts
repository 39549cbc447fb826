/**
 * A problem with a whole input file (recipients or suppression CSV): missing, empty, unreadable, broken quoting,
 * no phone column. Problems with one row never throw; they become error rows.
 */
export class IngestError extends Error {
  /** The file concerned, as given by the caller. */
  readonly file: string;
  /** 1-based physical line in the file, as an editor shows it, when the problem has one. */
  readonly line: number | undefined;
  /** Column (header name) when the problem concerns one column. */
  readonly column: string | undefined;
  /** What to do about it. */
  readonly hint: string;

  constructor(message: string, details: { file: string; hint: string; line?: number; column?: string; cause?: unknown }) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'IngestError';
    this.file = details.file;
    this.line = details.line;
    this.column = details.column;
    this.hint = details.hint;
  }
}

/** True for any IngestError. */
export function isIngestError(value: unknown): value is IngestError {
  return value instanceof IngestError;
}
