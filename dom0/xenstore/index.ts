// XenStore for xltsd: a pure engine plus its transports. See README.md.
export { DOMID_FIRST_RESERVED, XenstoreEngine } from './engine.ts';
export type { XenstoreEngineConfig, XsIntroducedDomain, XsReply, XsRequest, XsSession } from './engine.ts';
export { XenstoreClosedError, XenstoreError, XenstoreProtocolError, XSD_ERRORS } from './errors.ts';
export type { XsdErrorName } from './errors.ts';
export { XENSTORED_DEFAULT_QUOTAS, resolveQuotas } from './quotas.ts';
export type { XenstoreQuotas } from './quotas.ts';
export { XsConnection } from './connection.ts';
export type { XsConnectionIdentity, XsSend } from './connection.ts';
export { startXenstoreSocket } from './socket-server.ts';
export type { XenstoreSocketOptions, XenstoreSocketServer } from './socket-server.ts';
export { XenstoreRingServer } from './ring-server.ts';
export type { XenstoreRingFault, XenstoreRingOptions, XenstoreRingState } from './ring-server.ts';
export { XenstoreConnectionLostError, XenstoreSocketClient } from './client.ts';
export { encodeError, encodeFrame, encodeWatchEvent, XsFrameDecoder } from './wire.ts';
export type { XsFrame } from './wire.ts';
export { domainPath, XS_SPECIAL_INTRODUCE, XS_SPECIAL_RELEASE } from './paths.ts';
export type { XsCaller, XsPerm, XsPermLetter } from './perms.ts';
