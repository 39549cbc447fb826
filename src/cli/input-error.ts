/**
 * A flag combination or value that cannot work; reported as bad input (exit 2). A module of its own, so that a
 * command's definition can check its flags without loading the failure mapping (and everything it imports).
 */
export class InputError extends Error {
  constructor(
    message: string,
    readonly hint: string,
  ) {
    super(message);
    this.name = 'InputError';
  }
}
