// Public surface of the ring library (layer 1: imports only node builtins).
export * from './errors.ts';
export * from './sring.ts';
export { FrontRing } from './front-ring.ts';
export { BackRing } from './back-ring.ts';
