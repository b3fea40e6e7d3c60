// The unix-socket transport: every client is a privileged dom0 connection (as xenstored treats
// its socket), many at once. A client that breaks framing loses its connection; the server and
// the other clients carry on.
import { existsSync, chmodSync, lstatSync, unlinkSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { XsConnection } from './connection.ts';
import type { XenstoreEngine } from './engine.ts';
import { XsFrameDecoder } from './wire.ts';

export interface XenstoreSocketOptions {
  readonly engine: XenstoreEngine;
  /** Filesystem path of the socket; what clients get in XENSTORED_PATH. */
  readonly path: string;
  readonly log?: (line: string) => void;
}

export interface XenstoreSocketServer {
  readonly path: string;
  /** Clients connected now. */
  readonly connections: number;
  /** Stops listening, drops every client, removes the socket file. */
  close(): Promise<void>;
}

/** Resolves once listening. A stale socket file (nobody answering) is replaced; a live one is an error. */
export async function startXenstoreSocket(options: XenstoreSocketOptions): Promise<XenstoreSocketServer> {
  const { engine, path } = options;
  const log = options.log ?? (() => {});
  await removeStaleSocket(path);
  const clients = new Set<Socket>();
  const server: Server = createServer((socket) => {
    clients.add(socket);
    serveClient(engine, socket, log);
    socket.on('close', () => clients.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      resolve();
    });
  });
  // Only the owner of the daemon may speak to a privileged store.
  chmodSync(path, 0o600);
  server.on('error', (e) => log(`xenstore socket ${path}: ${String(e)}`));
  return {
    path,
    get connections() {
      return clients.size;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of clients) c.destroy();
        server.close(() => resolve());
      }),
  };
}

function serveClient(engine: XenstoreEngine, socket: Socket, log: (line: string) => void): void {
  const conn = new XsConnection(
    engine,
    { domid: 0, privileged: true },
    (bytes, reply) => {
      if (socket.destroyed) return;
      socket.write(bytes);
      // The kernel's socket buffer has it; dom0 has no outstanding-request quota to keep.
      if (reply) conn.replyDelivered();
    },
    log,
  );
  const decoder = new XsFrameDecoder((frame) => conn.handleFrame(frame));
  socket.on('data', (chunk: Buffer) => {
    try {
      decoder.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    } catch (e) {
      log(`xenstore socket client dropped: ${e instanceof Error ? e.message : String(e)}`);
      socket.destroy();
      conn.close();
    }
  });
  socket.on('error', () => socket.destroy());
  socket.on('close', () => conn.close());
}

async function removeStaleSocket(path: string): Promise<void> {
  if (!existsSync(path)) return;
  if (!lstatSync(path).isSocket()) throw new Error(`${path} exists and is not a socket`);
  const alive = await new Promise<boolean>((resolve) => {
    const probe = createConnection(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (alive) throw new Error(`another server is listening on ${path}`);
  unlinkSync(path);
}
