import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Campaign } from '../config/campaign.js';
import { IngestError } from '../ingest/errors.js';
import { TemplateError } from '../render/template.js';
import type { PlanFingerprint, PlanRowInput } from '../store/types.js';

/** What the plan worker is started with. */
export interface WorkerInput {
  campaign: Campaign;
  timezoneColumn: string | undefined;
  batchRows: number;
  /** The main thread's fingerprint, so the worker does not hash an unchanged CSV again (its own is unused). */
  known?: PlanFingerprint;
}

/** A failure inside the worker, flattened to cross the thread boundary. */
export interface WorkerError {
  name: string;
  message: string;
  hint?: string;
  file?: string;
  line?: number;
  column?: string | number;
}

/** Messages from the worker to the main thread. */
export type WorkerMessage = { type: 'rows'; rows: PlanRowInput[] } | { type: 'done' } | { type: 'error'; error: WorkerError };

const WORKER_URL = new URL('./plan-worker.js', import.meta.url);

/** Whether the compiled worker exists (it does in the built CLI; not when the sources run under a TS loader). */
export function planWorkerAvailable(): boolean {
  return existsSync(fileURLToPath(WORKER_URL));
}

/** Rebuilds the project's error classes from a flattened worker error, so the CLI reports them the same way. */
function revive(e: WorkerError): Error {
  if (e.name === 'IngestError') {
    return new IngestError(e.message, {
      file: e.file ?? '',
      hint: e.hint ?? '',
      ...(e.line !== undefined ? { line: e.line } : {}),
      ...(typeof e.column === 'string' ? { column: e.column } : {}),
    });
  }
  if (e.name === 'TemplateError') {
    return new TemplateError(e.message, {
      file: e.file ?? '',
      hint: e.hint ?? '',
      ...(e.line !== undefined ? { line: e.line } : {}),
      ...(typeof e.column === 'number' ? { column: e.column } : {}),
    });
  }
  return Object.assign(new Error(e.message), { name: e.name });
}

/**
 * Streams planned rows from a worker thread, batch by batch. Each batch is acknowledged when the consumer asks
 * for the next one, which is what keeps the worker at most a few batches ahead.
 */
export async function* planBatchesInWorker(input: WorkerInput): AsyncGenerator<PlanRowInput[]> {
  const worker = new Worker(WORKER_URL, {
    workerData: input,
    // Every row allocates short-lived objects (CSV record, parse results, rendered strings): a larger young
    // generation makes scavenges rarer without letting anything long-lived grow.
    resourceLimits: { maxYoungGenerationSizeMb: 48 },
  });
  const queue: WorkerMessage[] = [];
  let wake: (() => void) | undefined;
  let exitError: Error | undefined;
  worker.on('message', (m: WorkerMessage) => {
    queue.push(m);
    wake?.();
  });
  worker.on('error', (err) => {
    exitError = err;
    wake?.();
  });
  worker.on('exit', (code) => {
    if (code !== 0) exitError ??= new Error(`the planning worker stopped with exit code ${code}`);
    wake?.();
  });
  try {
    for (;;) {
      while (queue.length === 0 && !exitError) await new Promise<void>((resolve) => (wake = resolve));
      const message = queue.shift();
      if (!message) throw exitError ?? new Error('the planning worker stopped');
      if (message.type === 'error') throw revive(message.error);
      if (message.type === 'done') return;
      yield message.rows;
      worker.postMessage('ack');
    }
  } finally {
    await worker.terminate();
  }
}
