import { hash } from 'node:crypto';

/** What is shown of the error that dropped a device (the sender's `RkErrorSummary`; kept apart to avoid an import cycle). */
export interface DeviceErrorSummary {
  kind: string;
  code: string;
  message: string;
  hint: string;
}

/** One device of the rotation and its relative share of the recipients. */
export interface WeightedDevice {
  code: string;
  weight: number;
}

/** A device that left the rotation, and why. */
export interface DroppedDevice {
  code: string;
  error: DeviceErrorSummary;
  at: number;
}

/**
 * A uniform number in (0, 1) from a request id and a device code: a stable hash, the same in every process,
 * run and database (the request id is itself a function of the campaign and the number).
 */
function unitHash(requestId: string, device: string): number {
  const digest = hash('sha256', `${requestId}\u0000${device}`, 'buffer');
  // 48 bits are plenty; +0.5 keeps it strictly inside (0, 1).
  return (digest.readUIntBE(0, 6) + 0.5) / 2 ** 48;
}

/**
 * Weighted rendezvous hashing: the device with the highest `-weight / ln(u)` wins, where `u` is the unit hash of
 * (request id, device). Each device gets its weight's share of the recipients, the choice depends on nothing but
 * the request id and the devices, and when a device is left out only its own recipients move (to the device that
 * came second for them), so a drop never reshuffles anybody else.
 */
export function assignDevice(requestId: string, devices: readonly WeightedDevice[]): string | undefined {
  let best: string | undefined;
  let bestScore = -Infinity;
  for (const d of devices) {
    const score = -d.weight / Math.log(unitHash(requestId, d.code));
    if (score > bestScore) {
      bestScore = score;
      best = d.code;
    }
  }
  return best;
}

/**
 * The devices of one run: which are still in the rotation, and which device each message goes through. A device
 * the API says cannot send is dropped for the rest of the run; its recipients move to the others, their request
 * ids unchanged (the API's idempotency is per project and request id, so a message that was in fact created
 * through the dropped device is answered with its original UUID instead of being created again).
 */
export class DeviceRotation {
  private readonly devices: WeightedDevice[];
  private readonly dropped = new Map<string, DroppedDevice>();

  constructor(devices: readonly WeightedDevice[]) {
    if (devices.length === 0) throw new RangeError('a campaign needs at least one device');
    this.devices = devices.map((d) => ({ code: d.code, weight: d.weight }));
  }

  /** Every device of the campaign, in the campaign file's order. */
  all(): readonly WeightedDevice[] {
    return this.devices;
  }

  /** Devices still in the rotation. */
  active(): WeightedDevice[] {
    return this.devices.filter((d) => !this.dropped.has(d.code));
  }

  /** Devices that left the rotation, in the order they left. */
  droppedDevices(): DroppedDevice[] {
    return [...this.dropped.values()];
  }

  isActive(code: string): boolean {
    return !this.dropped.has(code) && this.devices.some((d) => d.code === code);
  }

  /**
   * The device for a message among the active ones, leaving out `unavailable` (capped for today); undefined when
   * none is left.
   */
  pick(requestId: string, unavailable?: ReadonlySet<string>): string | undefined {
    const candidates = this.active().filter((d) => !unavailable?.has(d.code));
    return assignDevice(requestId, candidates);
  }

  /** Takes a device out of the rotation; false when it was already out. */
  drop(code: string, error: DeviceErrorSummary, at: number): boolean {
    if (this.dropped.has(code)) return false;
    this.dropped.set(code, { code, error, at });
    return true;
  }
}
