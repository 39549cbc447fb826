/**
 * Public types of the RK Connect emulator: its configuration, what it records and how tests drive it.
 * The emulator keeps all state in memory; nothing here touches disk.
 */

/** One RK Connect project the emulator knows (API key, secret, devices, limits). */
export interface EmulatorProject {
  /** Display name. @default the API key */
  name?: string;
  /** Sent by clients in `X-API-KEY`. Must be unique across projects. */
  apiKey: string;
  /** HMAC key for `X-SIGNATURE`. */
  apiSecret: string;
  /** Device codes registered in the project (`X-DEVICE-CODE`), e.g. `RK-DEMO`. */
  devices: string[];
  /** Messages the project may create per calendar month (provider time, UTC+07:00). @default 3000 */
  monthlyQuota?: number;
  /** Send requests per sliding 60-second window. @default 60 */
  ratePerMinute?: number;
}

/** The project every emulator has unless told otherwise; its secret is a public test fixture. */
export const DEMO_PROJECT: Required<EmulatorProject> = Object.freeze({
  name: 'demo',
  apiKey: 'demo_api_key',
  apiSecret: 'demo_api_secret',
  devices: Object.freeze(['RK-DEMO']) as string[],
  monthlyQuota: 3000,
  ratePerMinute: 60,
}) as Required<EmulatorProject>;

/** How created messages move through `queued -> sent -> delivered | failed`. */
export interface LifecycleOptions {
  /** Time from creation to `sent`. @default 1000 */
  queuedToSentMs?: number;
  /** Time from `sent` to `delivered` (or `failed`). @default 2000 */
  sentToDeliveredMs?: number;
  /** Recipients (digits, as sent) whose messages end `failed`. */
  failRecipients?: string[];
  /** Share (0..1) of other messages that end `failed`, picked with the seeded PRNG at creation. @default 0 */
  failRate?: number;
  /** `error_message` of failed messages. @default 'Recipient is not on WhatsApp' */
  failureMessage?: string;
}

/**
 * A device that stops being able to send (issue 12): from its `afterMessages`-th created message on, every send
 * through it is answered 404 `DEVICE_NOT_FOUND`, 409 `DEVICE_DISCONNECTED` or 403 `DEVICE_RESTRICTED`.
 */
export interface DeviceFault {
  fault: 'not_found' | 'disconnected' | 'restricted';
  /** Messages the device still creates before the fault starts. @default 0 */
  afterMessages?: number;
}

/** API paths fault injection may apply to. */
export type FaultPath = 'send' | 'status';

/**
 * Seeded fault injection, decided per request on the configured paths, in this order: latency, hang,
 * reset before processing, 503, then (after processing) reset instead of answering.
 */
export interface FaultOptions {
  /** PRNG seed: the same seed and config give the same sequence of outcomes. @default 1 */
  seed?: number;
  /** Added delay, uniform in [min, max] milliseconds (real time). */
  latencyMs?: [number, number];
  /** Share of requests answered 503 `SERVER_ERROR` without processing. */
  serverErrorRate?: number;
  /** Share of requests whose connection is reset before processing (nothing happens). */
  resetBeforeRate?: number;
  /** Share of requests processed normally (a send creates its message) whose answer is lost to a reset. */
  resetAfterRate?: number;
  /** Share of requests never answered (socket held open until the client gives up or `close()`). */
  hangRate?: number;
  /** @default ['send', 'status'] */
  paths?: FaultPath[];
}

/** Everything `startEmulator` accepts. */
export interface EmulatorOptions {
  /** @default '127.0.0.1' */
  host?: string;
  /** 0 picks a free port. @default 0 */
  port?: number;
  /** @default [DEMO_PROJECT] */
  projects?: EmulatorProject[];
  /** How long an `X-REQUEST-ID` keeps returning the same message. @default 86_400_000 (24 h) */
  idempotencyWindowMs?: number;
  /** Largest accepted distance between `X-TIMESTAMP` and `now()`. @default 300 */
  maxClockSkewSeconds?: number;
  lifecycle?: LifecycleOptions;
  faults?: FaultOptions;
  /** Devices (by code) that fail, see `DeviceFault`. */
  deviceFaults?: Record<string, DeviceFault>;
  /** Injectable clock (ms since epoch) for signatures, rate windows, idempotency, quota and lifecycle. @default Date.now */
  now?: () => number;
}

/** A message the emulator created, as tests inspect it. */
export interface EmulatorMessage {
  /** The UUID returned to the client. */
  id: string;
  /** API key of the owning project. */
  projectKey: string;
  device: string;
  recipient: string;
  type: string;
  message: string | null;
  /** The `payload` object, or null when none was sent. */
  payload: unknown;
  /** The uploaded file, for media messages. `contentType` is the type detected from the content. */
  media: { filename: string; contentType: string; size: number } | null;
  /** SHA-256 (hex) of the uploaded file's bytes, or null: lets tests check which bytes arrived. */
  mediaSha256: string | null;
  /** `X-REQUEST-ID`, when given. */
  requestId: string | null;
  /** How often the same request id came back within the window and got this message's UUID again. */
  replays: number;
  /** Creation time, ms since epoch, by the emulator's clock. */
  createdAt: number;
}

/** Counters for tests and benchmarks. */
export interface EmulatorStats {
  /** Every request to an API path (not the `/__emulator` endpoints). */
  requests: number;
  /** Authenticated `POST /send` requests (the ones the rate limit counts, including those it refused). */
  sends: number;
  /** Messages created. */
  created: number;
  /** Idempotent replays answered with an existing UUID. */
  replays: number;
  /** 429 answers. */
  rateLimited: number;
  /** 403 answers. */
  quotaRejected: number;
  /** 401 answers. */
  authRejected: number;
  /** 400/413/422 answers. */
  validationRejected: number;
  /** Faults injected, by kind. */
  injected: { latency: number; serverError: number; resetBefore: number; resetAfter: number; hang: number };
  /**
   * Per API key, the most authenticated send requests (accepted or not) seen in any 60-second window. A client
   * that respects the rate keeps this at or below `ratePerMinute`.
   */
  maxSendsInAnyWindow: Record<string, number>;
}

/** A started emulator. */
export interface RunningEmulator {
  /** Base URL including `/api/v1`, e.g. `http://127.0.0.1:41234/api/v1`. */
  url: string;
  port: number;
  /** Copies of every created message, in creation order. */
  messages(): EmulatorMessage[];
  stats(): EmulatorStats;
  /** Changes a project's monthly quota at once (lower it to provoke 403, raise it to resume). */
  setQuota(apiKey: string, monthlyQuota: number): void;
  /** Replaces the fault configuration and reseeds its PRNG. */
  setFaults(faults: FaultOptions): void;
  /** Replaces the device faults (an empty object heals every device); `afterMessages` counts from now. */
  setDeviceFaults(faults: Record<string, DeviceFault>): void;
  /** Replaces the lifecycle configuration for messages created from now on. */
  setLifecycle(lifecycle: LifecycleOptions): void;
  /** Stops listening and destroys every socket, including hanging and keep-alive ones. */
  close(): Promise<void>;
}

/** Defaults, in one place. */
export const EMULATOR_DEFAULTS = {
  host: '127.0.0.1',
  monthlyQuota: 3000,
  ratePerMinute: 60,
  idempotencyWindowMs: 24 * 60 * 60 * 1000,
  maxClockSkewSeconds: 300,
  queuedToSentMs: 1000,
  sentToDeliveredMs: 2000,
  failureMessage: 'Recipient is not on WhatsApp',
  faultSeed: 1,
  /** Largest request body accepted. */
  maxBodyBytes: 20 * 1024 * 1024,
  serverId: 'emu-01',
} as const;
