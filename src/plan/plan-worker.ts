/**
 * Worker thread of the planner: streams the CSV, normalises, renders and serialises rows, and posts them to the
 * main thread in batches while the main thread writes the previous batch to the store. On two cores this
 * overlaps the CPU-bound half (parse, libphonenumber, Handlebars) with the SQLite half.
 *
 * Flow control: at most `MAX_OUTSTANDING` batches are in flight; the main thread acknowledges each one it has
 * written, so memory stays flat however large the file is.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { Campaign } from '../config/campaign.js';
import type { PlanRowInput } from '../store/types.js';
import { planRows, prepareCampaign } from './planner.js';
import type { WorkerError, WorkerInput, WorkerMessage } from './worker-protocol.js';

const MAX_OUTSTANDING = 3;

async function work(port: NonNullable<typeof parentPort>, input: WorkerInput): Promise<void> {
  let outstanding = 0;
  let wake: (() => void) | undefined;
  port.on('message', (msg: 'ack') => {
    if (msg !== 'ack') return;
    outstanding--;
    wake?.();
  });
  const post = async (message: WorkerMessage): Promise<void> => {
    while (outstanding >= MAX_OUTSTANDING) await new Promise<void>((resolve) => (wake = resolve));
    outstanding++;
    port.postMessage(message);
  };
  const prepared = await prepareCampaign(input.campaign as Campaign, { timezoneColumn: input.timezoneColumn, known: input.known });
  let batch: PlanRowInput[] = [];
  for await (const row of planRows(prepared)) {
    // Serialised here, on this thread: the main thread only binds strings.
    row.fieldsJson = JSON.stringify(row.fields);
    row.fields = {};
    if (row.payload !== null) {
      row.payloadJson = JSON.stringify(row.payload);
      row.payload = null;
    }
    batch.push(row);
    if (batch.length >= input.batchRows) {
      await post({ type: 'rows', rows: batch });
      batch = [];
    }
  }
  if (batch.length > 0) await post({ type: 'rows', rows: batch });
  port.postMessage({ type: 'done' } satisfies WorkerMessage);
}

if (parentPort) {
  const port = parentPort;
  work(port, workerData as WorkerInput).catch((error: unknown) => {
    const e = error as Partial<WorkerError> & { name?: string; message?: string };
    const detail: WorkerError = {
      name: e.name ?? 'Error',
      message: e.message ?? String(error),
      ...(e.hint !== undefined ? { hint: e.hint } : {}),
      ...(e.file !== undefined ? { file: e.file } : {}),
      ...(typeof e.line === 'number' ? { line: e.line } : {}),
      ...(e.column !== undefined ? { column: e.column } : {}),
    };
    port.postMessage({ type: 'error', error: detail } satisfies WorkerMessage);
  });
}
