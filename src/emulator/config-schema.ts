import { z } from 'zod';
import type { DeviceFault, EmulatorOptions, FaultOptions, LifecycleOptions } from './types.js';

const share = z.number().min(0).max(1);
const nonNegativeMs = z.number().int().min(0);

/** Schema of one project (see `EmulatorProject`). */
export const projectSchema = z.strictObject({
  name: z.string().min(1).optional(),
  apiKey: z.string().min(1),
  apiSecret: z.string().min(1),
  devices: z.array(z.string().min(1)).min(1),
  monthlyQuota: z.number().int().min(0).optional(),
  ratePerMinute: z.number().int().min(1).optional(),
});

/** Schema of `LifecycleOptions`. */
export const lifecycleSchema = z.strictObject({
  queuedToSentMs: nonNegativeMs.optional(),
  sentToDeliveredMs: nonNegativeMs.optional(),
  failRecipients: z.array(z.string()).optional(),
  failRate: share.optional(),
  failureMessage: z.string().min(1).optional(),
});

/** Schema of `FaultOptions`. */
export const faultsSchema = z.strictObject({
  seed: z.number().int().optional(),
  latencyMs: z
    .tuple([nonNegativeMs, nonNegativeMs])
    .refine(([min, max]) => min <= max, 'latencyMs must be [min, max] with min <= max')
    .optional(),
  serverErrorRate: share.optional(),
  resetBeforeRate: share.optional(),
  resetAfterRate: share.optional(),
  hangRate: share.optional(),
  paths: z.array(z.enum(['send', 'status'])).optional(),
});

/** Schema of `deviceFaults`: device code -> `DeviceFault`. */
export const deviceFaultsSchema = z.record(
  z.string().min(1),
  z.strictObject({ fault: z.enum(['not_found', 'disconnected', 'restricted']), afterMessages: z.number().int().min(0).optional() }),
);

/** Schema of `EmulatorOptions` without `now` (what a `--config` JSON file may hold). */
export const emulatorConfigSchema = z.strictObject({
  host: z.string().min(1).optional(),
  port: z.number().int().min(0).max(65535).optional(),
  projects: z
    .array(projectSchema)
    .min(1)
    .refine((projects) => new Set(projects.map((p) => p.apiKey)).size === projects.length, 'apiKey must be unique across projects')
    .optional(),
  idempotencyWindowMs: nonNegativeMs.optional(),
  maxClockSkewSeconds: z.number().int().min(0).optional(),
  lifecycle: lifecycleSchema.optional(),
  faults: faultsSchema.optional(),
  deviceFaults: deviceFaultsSchema.optional(),
});

/** Body of `POST /__emulator/config`: runtime changes for an emulator running in another process. */
export const runtimeConfigSchema = z.strictObject({
  quota: z.strictObject({ apiKey: z.string().min(1), monthlyQuota: z.number().int().min(0) }).optional(),
  faults: faultsSchema.optional(),
  lifecycle: lifecycleSchema.optional(),
  deviceFaults: deviceFaultsSchema.optional(),
});

/** A runtime change, as `POST /__emulator/config` accepts it. */
export interface RuntimeConfig {
  quota?: { apiKey: string; monthlyQuota: number };
  faults?: FaultOptions;
  lifecycle?: LifecycleOptions;
  deviceFaults?: Record<string, DeviceFault>;
}

/** Emulator options as read from a file (everything but the clock). */
export type EmulatorFileConfig = Omit<EmulatorOptions, 'now'>;

/** A configuration the emulator refuses, with every problem named by its path. */
export class EmulatorConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EmulatorConfigError';
  }
}

function describeIssues(error: z.ZodError, what: string): string {
  const lines = error.issues.map((issue) => `  ${issue.path.length > 0 ? issue.path.join('.') : '(root)'}: ${issue.message}`);
  return `Invalid ${what}:\n${lines.join('\n')}`;
}

/** Validates emulator options (minus `now`); throws `EmulatorConfigError` naming each bad key. */
export function parseEmulatorConfig(value: unknown, what = 'emulator options'): EmulatorFileConfig {
  const result = emulatorConfigSchema.safeParse(value);
  if (!result.success) throw new EmulatorConfigError(describeIssues(result.error, what));
  return result.data as EmulatorFileConfig;
}

/** Validates a runtime config change; throws `EmulatorConfigError` naming each bad key. */
export function parseRuntimeConfig(value: unknown): RuntimeConfig {
  const result = runtimeConfigSchema.safeParse(value);
  if (!result.success) throw new EmulatorConfigError(describeIssues(result.error, 'emulator config change'));
  return result.data as RuntimeConfig;
}
