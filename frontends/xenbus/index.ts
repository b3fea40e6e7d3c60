// Public surface of the xenbus client (layer 3): what frontends, guest programs and Dom0 tools use
// to talk to xenstored. The protocol core it builds on (XenbusState, key names, device paths) is
// ring-buffer/xenbus.ts, shared with the backends.
export * from './errors.ts';
export type { XenstoreTransport } from './transport.ts';
export { XenstoreClient, type XenstoreClientOptions, type XenstoreOps, type WatchCallback } from './client.ts';
export { XenstoreRingTransport } from './ring-transport.ts';
export { connectUnixSocket, socketTransport } from './socket-transport.ts';
export { type SwitchStateOptions, type SwitchStateResult, type XenbusStore, switchState, waitForState } from './handshake.ts';
export { type XsPermAccess, type XsPermission } from './wire.ts';
