import { randomUUID } from 'node:crypto';
import { computeSignature, HEADER, signatureMatches } from '../rk/signing.js';
import { mulberry32 } from './prng.js';
import { EMULATOR_DEFAULTS, type DeviceFault, type EmulatorMessage, type EmulatorProject, type EmulatorStats, type LifecycleOptions } from './types.js';
import type { ApiFailure, ValidSend } from './validation.js';

const WINDOW_MS = 60_000;
/** The provider runs on Jakarta time (UTC+07:00, no daylight saving): timestamps and quota months use it. */
const PROVIDER_OFFSET_MS = 7 * 60 * 60 * 1000;

/** A project with every default filled in. */
interface ProjectState {
  name: string;
  apiKey: string;
  apiSecret: string;
  devices: Set<string>;
  monthlyQuota: number;
  ratePerMinute: number;
  /** Times of send requests admitted by the rate limit, within the last window. */
  admitted: number[];
  /** Times of every authenticated send request (admitted or refused), within the last window. */
  attempts: number[];
  /** Messages created per provider calendar month (`YYYY-MM`). */
  createdPerMonth: Map<string, number>;
}

/** A created message plus its fixed timeline. */
interface StoredMessage extends EmulatorMessage {
  sentAt: number;
  finalAt: number;
  failureMessage: string | null;
}

/** The documented `data` of `GET /status/{uuid}`. */
export interface StatusData {
  id: string;
  status: 'queued' | 'sent' | 'delivered' | 'failed';
  recipient: string;
  device_code: string;
  created_at: string;
  delivered_at: string | null;
  failed_at: string | null;
  error_message: string | null;
}

/** The documented `data` of a successful `POST /send`. */
export interface SendData {
  id: string;
  status: 'queued';
  device: string;
}

/** Headers the state needs from a request, already lower-cased by node. */
export type RequestHeaders = Readonly<Record<string, string | string[] | undefined>>;

/** Settings the state needs, defaults resolved. */
export interface StateSettings {
  projects: EmulatorProject[];
  idempotencyWindowMs: number;
  maxClockSkewSeconds: number;
  lifecycle: LifecycleOptions;
  lifecycleSeed: number;
  now: () => number;
}

/** Formats ms since epoch as ISO 8601 with the provider's `+07:00` offset, e.g. `2026-03-02T12:00:00+07:00`. */
export function providerIso(ms: number): string {
  return new Date(ms + PROVIDER_OFFSET_MS).toISOString().slice(0, 19) + '+07:00';
}

function providerMonth(ms: number): string {
  return new Date(ms + PROVIDER_OFFSET_MS).toISOString().slice(0, 7);
}

function header(headers: RequestHeaders, name: string): string | undefined {
  const value = headers[name];
  const first = Array.isArray(value) ? value[0] : value;
  return first === undefined || first === '' ? undefined : first;
}

function digitsOnly(value: string): string {
  return value.replace(/\D/g, '');
}

/**
 * Everything the emulator remembers, and the API's rules applied to it: authentication, the sliding-window
 * rate limit, idempotency, monthly quota and the message lifecycle. Knows nothing of HTTP.
 */
export class EmulatorState {
  private readonly projects = new Map<string, ProjectState>();
  private readonly messagesById = new Map<string, StoredMessage>();
  private readonly messageIdByRequestKey = new Map<string, string>();
  private lifecycle: LifecycleOptions;
  private readonly pickFailure: () => number;
  private readonly counters: Omit<EmulatorStats, 'maxSendsInAnyWindow'>;
  private readonly maxSendsInAnyWindow: Record<string, number> = {};
  /** Device code -> its fault and how many more messages it creates before the fault starts. */
  private deviceFaults = new Map<string, { fault: DeviceFault['fault']; left: number }>();

  constructor(private readonly settings: StateSettings) {
    for (const p of settings.projects) {
      if (this.projects.has(p.apiKey)) throw new Error(`Duplicate emulator project apiKey "${p.apiKey}".`);
      this.projects.set(p.apiKey, {
        name: p.name ?? p.apiKey,
        apiKey: p.apiKey,
        apiSecret: p.apiSecret,
        devices: new Set(p.devices),
        monthlyQuota: p.monthlyQuota ?? EMULATOR_DEFAULTS.monthlyQuota,
        ratePerMinute: p.ratePerMinute ?? EMULATOR_DEFAULTS.ratePerMinute,
        admitted: [],
        attempts: [],
        createdPerMonth: new Map(),
      });
      this.maxSendsInAnyWindow[p.apiKey] = 0;
    }
    this.lifecycle = { ...settings.lifecycle };
    this.pickFailure = mulberry32(settings.lifecycleSeed);
    this.counters = {
      requests: 0,
      sends: 0,
      created: 0,
      replays: 0,
      rateLimited: 0,
      quotaRejected: 0,
      authRejected: 0,
      validationRejected: 0,
      injected: { latency: 0, serverError: 0, resetBefore: 0, resetAfter: 0, hang: 0 },
    };
  }

  /** Mutable counters for the server to bump. */
  get stats(): Omit<EmulatorStats, 'maxSendsInAnyWindow'> {
    return this.counters;
  }

  /** A snapshot of the counters. */
  snapshotStats(): EmulatorStats {
    return {
      ...this.counters,
      injected: { ...this.counters.injected },
      maxSendsInAnyWindow: { ...this.maxSendsInAnyWindow },
    };
  }

  /** Copies of every created message, in creation order. */
  listMessages(): EmulatorMessage[] {
    return [...this.messagesById.values()].map((m) => ({
      id: m.id,
      projectKey: m.projectKey,
      device: m.device,
      recipient: m.recipient,
      type: m.type,
      message: m.message,
      payload: m.payload === null ? null : structuredClone(m.payload),
      media: m.media === null ? null : { ...m.media },
      mediaSha256: m.mediaSha256,
      requestId: m.requestId,
      replays: m.replays,
      createdAt: m.createdAt,
    }));
  }

  setQuota(apiKey: string, monthlyQuota: number): void {
    const project = this.projects.get(apiKey);
    if (!project) throw new Error(`The emulator has no project with apiKey "${apiKey}".`);
    if (!Number.isInteger(monthlyQuota) || monthlyQuota < 0) throw new Error('monthlyQuota must be a non-negative integer.');
    project.monthlyQuota = monthlyQuota;
  }

  /** Replaces the device faults; `afterMessages` counts messages created from now on. */
  setDeviceFaults(faults: Record<string, DeviceFault>): void {
    this.deviceFaults = new Map(Object.entries(faults).map(([code, f]) => [code, { fault: f.fault, left: f.afterMessages ?? 0 }]));
  }

  /** The answer of a device whose fault has started, else undefined. */
  private deviceFailure(device: string): ApiFailure | undefined {
    const f = this.deviceFaults.get(device);
    if (!f || f.left > 0) return undefined;
    if (f.fault === 'not_found') return { status: 404, code: 'DEVICE_NOT_FOUND', message: 'Device not found.' };
    if (f.fault === 'disconnected') return { status: 409, code: 'DEVICE_DISCONNECTED', message: 'The device is not connected to WhatsApp.' };
    return { status: 403, code: 'DEVICE_RESTRICTED', message: 'The WhatsApp number of this device is restricted.' };
  }

  /** Applies to messages created from now on; existing messages keep their timeline. */
  setLifecycle(lifecycle: LifecycleOptions): void {
    this.lifecycle = { ...lifecycle };
  }

  /**
   * Strict HMAC check: all three headers present, a known key, an integer timestamp within the allowed skew,
   * and the signature over exactly the received bytes (constant-time compare).
   */
  authenticate(headers: RequestHeaders, rawBody: Uint8Array): ProjectState | ApiFailure {
    const apiKey = header(headers, HEADER.apiKey);
    const timestamp = header(headers, HEADER.timestamp);
    const signature = header(headers, HEADER.signature);
    if (apiKey === undefined || timestamp === undefined || signature === undefined) {
      return this.authFailure(
        'MISSING_SIGNATURE_HEADERS',
        'Missing signing headers: X-API-KEY, X-TIMESTAMP and X-SIGNATURE are required.',
      );
    }
    const project = this.projects.get(apiKey);
    if (!project) return this.authFailure('INVALID_API_KEY', 'Invalid API key.');
    if (!/^[0-9]{1,12}$/.test(timestamp)) {
      return this.authFailure('INVALID_SIGNATURE', 'Invalid signature: X-TIMESTAMP must be a Unix time in seconds.');
    }
    const skewSeconds = Math.abs(this.settings.now() / 1000 - Number(timestamp));
    if (skewSeconds > this.settings.maxClockSkewSeconds) {
      return this.authFailure('INVALID_SIGNATURE', 'Invalid signature: X-TIMESTAMP is too far from the server time.');
    }
    const expected = computeSignature(apiKey, timestamp, rawBody, project.apiSecret);
    if (!signatureMatches(expected, signature)) return this.authFailure('INVALID_SIGNATURE', 'Invalid signature.');
    return project;
  }

  private authFailure(code: string, message: string): ApiFailure {
    this.counters.authRejected++;
    return { status: 401, code, message };
  }

  /**
   * Counts an authenticated send request against the project's sliding 60-second window. Returns null when
   * admitted, else the 429 with the whole seconds until a slot frees.
   */
  admitSend(project: ProjectState): (ApiFailure & { retryAfterSeconds: number }) | null {
    const now = this.settings.now();
    const horizon = now - WINDOW_MS;
    this.counters.sends++;
    project.attempts.push(now);
    dropOlderThan(project.attempts, horizon);
    const seen = project.attempts.length;
    if (seen > (this.maxSendsInAnyWindow[project.apiKey] ?? 0)) this.maxSendsInAnyWindow[project.apiKey] = seen;

    dropOlderThan(project.admitted, horizon);
    if (project.admitted.length >= project.ratePerMinute) {
      const oldest = project.admitted[0]!;
      const retryAfterSeconds = Math.max(1, Math.ceil((oldest + WINDOW_MS - now) / 1000));
      this.counters.rateLimited++;
      return {
        status: 429,
        code: 'RATE_LIMITED',
        message: `Too many requests: the limit is ${project.ratePerMinute} messages per minute. Retry after ${retryAfterSeconds} s.`,
        retryAfterSeconds,
      };
    }
    project.admitted.push(now);
    return null;
  }

  /** Remaining sends in the current window, for the `X-RateLimit-*` headers. */
  rateRemaining(project: ProjectState): number {
    dropOlderThan(project.admitted, this.settings.now() - WINDOW_MS);
    return Math.max(0, project.ratePerMinute - project.admitted.length);
  }

  /**
   * Creates a message, or returns the existing one for a request id seen within the idempotency window
   * (replays work even when the quota is used up). Synchronous, so concurrent requests cannot race.
   */
  createOrReplay(project: ProjectState, deviceHeader: string | undefined, requestId: string | undefined, send: ValidSend): SendData | ApiFailure {
    if (deviceHeader === undefined) {
      return { status: 422, code: 'INVALID_DEVICE', message: 'The X-DEVICE-CODE header is required.' };
    }
    if (!project.devices.has(deviceHeader)) {
      return { status: 422, code: 'INVALID_DEVICE', message: `The device in X-DEVICE-CODE is not registered in this project.` };
    }
    const deviceDown = this.deviceFailure(deviceHeader);
    if (deviceDown) return deviceDown;
    const now = this.settings.now();
    const requestKey = requestId === undefined ? undefined : `${project.apiKey}\u0000${requestId}`;
    if (requestKey !== undefined) {
      const existing = this.messagesById.get(this.messageIdByRequestKey.get(requestKey) ?? '');
      if (existing && now - existing.createdAt < this.settings.idempotencyWindowMs) {
        existing.replays++;
        this.counters.replays++;
        return { id: existing.id, status: 'queued', device: existing.device };
      }
    }
    const month = providerMonth(now);
    const createdThisMonth = project.createdPerMonth.get(month) ?? 0;
    if (createdThisMonth >= project.monthlyQuota) {
      this.counters.quotaRejected++;
      return { status: 403, code: 'QUOTA_EXCEEDED', message: 'Monthly quota exceeded or account suspended.' };
    }

    const lifecycle = this.lifecycle;
    const queuedToSentMs = lifecycle.queuedToSentMs ?? EMULATOR_DEFAULTS.queuedToSentMs;
    const sentToDeliveredMs = lifecycle.sentToDeliveredMs ?? EMULATOR_DEFAULTS.sentToDeliveredMs;
    // Always draw, so which message fails depends only on the seed and the creation order.
    const draw = this.pickFailure();
    const listed = (lifecycle.failRecipients ?? []).some((r) => digitsOnly(r) === send.recipient);
    const fails = listed || draw < (lifecycle.failRate ?? 0);
    const message: StoredMessage = {
      id: randomUUID(),
      projectKey: project.apiKey,
      device: deviceHeader,
      recipient: send.recipient,
      type: send.type,
      message: send.message,
      payload: send.payload,
      media: send.media,
      mediaSha256: send.mediaSha256,
      requestId: requestId ?? null,
      replays: 0,
      createdAt: now,
      sentAt: now + queuedToSentMs,
      finalAt: now + queuedToSentMs + sentToDeliveredMs,
      failureMessage: fails ? (lifecycle.failureMessage ?? EMULATOR_DEFAULTS.failureMessage) : null,
    };
    this.messagesById.set(message.id, message);
    if (requestKey !== undefined) this.messageIdByRequestKey.set(requestKey, message.id);
    project.createdPerMonth.set(month, createdThisMonth + 1);
    this.counters.created++;
    const fault = this.deviceFaults.get(deviceHeader);
    if (fault && fault.left > 0) fault.left--;
    return { id: message.id, status: 'queued', device: message.device };
  }

  /** The documented status of a message of this project, computed from `now()`. */
  statusOf(project: ProjectState, id: string): StatusData | ApiFailure {
    const m = this.messagesById.get(id);
    if (!m || m.projectKey !== project.apiKey) {
      return { status: 404, code: 'MESSAGE_NOT_FOUND', message: 'Message not found.' };
    }
    const now = this.settings.now();
    const final = now >= m.finalAt;
    const status = final ? (m.failureMessage === null ? 'delivered' : 'failed') : now >= m.sentAt ? 'sent' : 'queued';
    return {
      id: m.id,
      status,
      recipient: m.recipient,
      device_code: m.device,
      created_at: providerIso(m.createdAt),
      delivered_at: status === 'delivered' ? providerIso(m.finalAt) : null,
      failed_at: status === 'failed' ? providerIso(m.finalAt) : null,
      error_message: status === 'failed' ? m.failureMessage : null,
    };
  }
}

/** Removes leading entries at or before `horizon` from an ascending list of times. */
function dropOlderThan(times: number[], horizon: number): void {
  let drop = 0;
  while (drop < times.length && times[drop]! <= horizon) drop++;
  if (drop > 0) times.splice(0, drop);
}

/** A project as the state stores it (opaque outside this module). */
export type { ProjectState };
