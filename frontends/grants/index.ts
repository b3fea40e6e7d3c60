// The guest side of grant table v1, for frontends (layer 3).
export { GrantTableWriter } from './grant-table-writer.ts';
export { GrantRefInvalidError, GrantRefsExhaustedError } from './errors.ts';
