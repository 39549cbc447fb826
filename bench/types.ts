/** One row of the benchmark table. */
export interface BenchRow {
  /** What was measured, e.g. `rate fidelity: rk-broadcast`. */
  name: string;
  /** The figure, with its unit. */
  value: string;
  /** The target from the issue, if any. */
  target?: string;
  /** How it was measured / anything to know. */
  note?: string;
}
