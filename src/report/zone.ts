import { DateTime, IANAZone } from 'luxon';
import { ReportError } from './record.js';

/** The zone, or a ReportError when it is not an IANA time zone name. */
export function requireTimeZone(zone: string): string {
  if (!IANAZone.isValidZone(zone)) {
    throw new ReportError(`"${zone}" is not an IANA time zone.`, 'Use a name such as Asia/Jakarta, Asia/Makassar or UTC.');
  }
  return zone;
}

/** `Asia/Jakarta (+07:00)` (the offset now), or `UTC`. */
export function zoneLabel(zone: string): string {
  return zone === 'UTC' ? 'UTC' : `${zone} (${DateTime.now().setZone(zone).toFormat('ZZ')})`;
}
