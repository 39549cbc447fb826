/**
 * The RK Connect emulator: a strict, in-memory HTTP implementation of the API for tests, benchmarks and the
 * demo. Shares only `rk/signing.ts` with the client.
 */
export { startEmulator } from './server.js';
export {
  DEMO_PROJECT,
  type DeviceFault,
  EMULATOR_DEFAULTS,
  type EmulatorMessage,
  type EmulatorOptions,
  type EmulatorProject,
  type EmulatorStats,
  type FaultOptions,
  type FaultPath,
  type LifecycleOptions,
  type RunningEmulator,
} from './types.js';
export {
  EmulatorConfigError,
  parseEmulatorConfig,
  parseRuntimeConfig,
  type EmulatorFileConfig,
  type RuntimeConfig,
} from './config-schema.js';
export { providerIso } from './state.js';
export { mulberry32 } from './prng.js';
