// Public surface of the ring library (layer 1: imports only node builtins).
export * from './errors.ts';
export * from './sring.ts';
export { FrontRing } from './front-ring.ts';
export { BackRing } from './back-ring.ts';
export * from './layout.ts';
export * from './byte-ring.ts';
export * from './console-interface.ts';
export * from './xenstore-interface.ts';
export * from './blkif.ts';
export * from './netif.ts';
export * from './xs-wire.ts';
export * from './wire-layouts.ts';
export * from './grant-table.ts';
