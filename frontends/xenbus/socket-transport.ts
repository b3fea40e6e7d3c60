// XenStore over a stream socket: how Dom0 tools and tests reach xenstored
// ($rundir/xenstored/socket, or XENSTORED_PATH). The socket carries the same xsd_sockmsg frames
// as the ring.
import { type Socket, createConnection } from 'node:net';
import { XenstoreClosedError } from './errors.ts';
import type { XenstoreTransport } from './transport.ts';

/** Wraps a connected socket. Socket errors end the stream with that error. */
export function socketTransport(socket: Socket): XenstoreTransport {
  let dataCb: ((bytes: Uint8Array) => void) | null = null;
  let closeCb: ((error: Error | null) => void) | null = null;
  let lastError: Error | null = null;
  let closedByUs = false;
  socket.on('data', (chunk: Buffer) => dataCb?.(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength)));
  socket.on('error', (e: Error) => {
    lastError = e;
  });
  socket.on('close', () => {
    if (closedByUs) return;
    const cb = closeCb;
    closeCb = null;
    cb?.(lastError);
  });
  return {
    write(bytes) {
      if (closedByUs || socket.destroyed) throw new XenstoreClosedError('the xenstore socket is closed');
      socket.write(bytes);
    },
    onData(cb) {
      dataCb = cb;
    },
    onClose(cb) {
      closeCb = cb;
    },
    close() {
      closedByUs = true;
      socket.destroy();
    },
  };
}

/** Connects to xenstored's unix socket at `path`. */
export function connectUnixSocket(path: string): Promise<XenstoreTransport> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ path });
    const onError = (e: Error): void => reject(e);
    socket.once('error', onError);
    socket.once('connect', () => {
      socket.off('error', onError);
      resolve(socketTransport(socket));
    });
  });
}
