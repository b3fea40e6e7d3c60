// Two ends of an in-memory byte pipe: the client end is a XenstoreTransport, the server end is
// what a fake server (or a test playing one) reads and writes. Bytes cross asynchronously, one
// microtask per chunk, and can be cut into chunks of any size down to single bytes, so the client
// sees streams cut the way rings and sockets cut them.
import type { XenstoreTransport } from '../transport.ts';

export interface ServerEnd {
  /** Bytes to the client. */
  send(bytes: Uint8Array): void;
  /** Receives the client's bytes. */
  onData(cb: (bytes: Uint8Array) => void): void;
  /** Ends the stream from the server side: the client's close callback gets `error`. */
  end(error: Error | null): void;
  /** Whether the client closed its end. */
  readonly clientClosed: boolean;
}

export interface MemoryPipeOptions {
  /** Largest chunk delivered to the client at once; 1 delivers byte by byte. Default: whole writes. */
  readonly chunkToClient?: number;
  /** Same, towards the server. */
  readonly chunkToServer?: number;
}

export function memoryTransportPair(options: MemoryPipeOptions = {}): { client: XenstoreTransport; server: ServerEnd } {
  let toClient: ((b: Uint8Array) => void) | null = null;
  let toServer: ((b: Uint8Array) => void) | null = null;
  let clientClose: ((e: Error | null) => void) | null = null;
  let clientClosed = false;
  let ended = false;

  const deliver = (bytes: Uint8Array, chunk: number | undefined, sink: () => ((b: Uint8Array) => void) | null): void => {
    const copy = bytes.slice();
    const size = chunk ?? Math.max(copy.byteLength, 1);
    for (let at = 0; at < copy.byteLength; at += size) {
      const piece = copy.subarray(at, at + size);
      queueMicrotask(() => {
        // Bytes already on their way when the server ends still arrive, before the close.
        if (clientClosed) return;
        sink()?.(piece);
      });
    }
  };

  const client: XenstoreTransport = {
    write(bytes) {
      if (clientClosed || ended) throw new Error('memory transport closed');
      deliver(bytes, options.chunkToServer, () => toServer);
    },
    onData(cb) {
      toClient = cb;
    },
    onClose(cb) {
      clientClose = cb;
    },
    close() {
      clientClosed = true;
    },
  };
  const server: ServerEnd = {
    send(bytes) {
      if (ended) return;
      deliver(bytes, options.chunkToClient, () => toClient);
    },
    onData(cb) {
      toServer = cb;
    },
    end(error) {
      if (ended || clientClosed) return;
      ended = true;
      queueMicrotask(() => clientClose?.(error));
    },
    get clientClosed() {
      return clientClosed;
    },
  };
  return { client, server };
}
