// Failures of the guest's grant table writer.

/** Every grant reference outside the reserved range is in use. */
export class GrantRefsExhaustedError extends Error {
  constructor(readonly capacity: number) {
    super(`all ${capacity} grant references are in use`);
    this.name = 'GrantRefsExhaustedError';
  }
}

/** A ref that is reserved, out of range, or not currently granted by us. */
export class GrantRefInvalidError extends Error {
  constructor(readonly ref: number, readonly why: string) {
    super(`grant ref ${ref}: ${why}`);
    this.name = 'GrantRefInvalidError';
  }
}
