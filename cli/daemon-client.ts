// The CLI's side of the control socket: a client that sends Requests and matches Responses by id,
// hands Events and console bytes to whoever asked, and ensureDaemon(), which starts xltsd in the
// background when none serves the run directory.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { fileURLToPath } from 'node:url';
import { parseCommand, type CommandOf, type ControlOp, type ResultOf } from '../dom0/control/commands.ts';
import { ControlConnectionClosedError, controlErrorFromWire } from '../dom0/control/errors.ts';
import { encodeFrame, FrameDecoder } from '../dom0/control/framing.ts';
import { parseServerMessage, type ControlEvent } from '../dom0/control/messages.ts';
import { runPaths, type RunPaths } from '../dom0/daemon/run-dir.ts';

const XLTS_BIN = fileURLToPath(new URL('../bin/xlts.js', import.meta.url));
const DAEMON_START_TIMEOUT_MS = 30_000;

interface Pending {
  resolve(v: unknown): void;
  reject(e: Error): void;
}

export class ControlClient {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly decoder: FrameDecoder;
  onEvent: (e: ControlEvent) => void = () => undefined;
  onConsole: (domid: number, data: Uint8Array) => void = () => undefined;
  onClose: () => void = () => undefined;

  private constructor(private readonly socket: net.Socket) {
    this.decoder = new FrameDecoder((m) => this.message(m));
    socket.on('data', (chunk: Buffer) => this.decoder.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength)));
    socket.on('close', () => {
      for (const p of this.pending.values()) p.reject(new ControlConnectionClosedError());
      this.pending.clear();
      this.onClose();
    });
    socket.on('error', () => undefined);
  }

  static connect(path: string): Promise<ControlClient> {
    return new Promise((resolve, reject) => {
      const s = net.createConnection(path);
      s.once('connect', () => resolve(new ControlClient(s)));
      s.once('error', reject);
    });
  }

  private message(raw: unknown): void {
    const m = parseServerMessage(raw);
    if ('console' in m) this.onConsole(m.console.domid, m.console.data);
    else if ('event' in m) this.onEvent(m.event);
    else {
      const p = this.pending.get(m.id);
      if (p === undefined) return;
      this.pending.delete(m.id);
      if (m.ok) p.resolve(m.result);
      else p.reject(controlErrorFromWire(m.error));
    }
  }

  /** Sends a command (checked here as the daemon will check it) and resolves with its result. */
  request<K extends ControlOp>(command: CommandOf<K>): Promise<ResultOf<K>> {
    parseCommand(command);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.socket.write(encodeFrame({ id, command }));
    });
  }

  sendConsole(domid: number, data: Uint8Array): void {
    this.socket.write(encodeFrame({ console: { domid, data } }));
  }

  close(): void {
    this.socket.end();
  }
}

function canConnect(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createConnection(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Makes sure an xltsd serves the run directory, starting one in the background if needed. */
export async function ensureDaemon(paths: RunPaths = runPaths()): Promise<RunPaths> {
  if (await canConnect(paths.controlSocket)) return paths;
  fs.mkdirSync(paths.dir, { recursive: true, mode: 0o700 });
  const logFd = fs.openSync(paths.logFile, 'a');
  const child = spawn(process.execPath, [XLTS_BIN, 'daemon'], { detached: true, stdio: ['ignore', logFd, logFd], env: process.env });
  child.unref();
  fs.closeSync(logFd);
  const until = Date.now() + DAEMON_START_TIMEOUT_MS;
  let exited: number | null = null;
  child.once('exit', (code) => (exited = code ?? -1));
  while (Date.now() < until) {
    if (await canConnect(paths.controlSocket)) return paths;
    if (exited !== null) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const tail = fs.existsSync(paths.logFile) ? fs.readFileSync(paths.logFile, 'utf8').split('\n').slice(-10).join('\n') : '';
  throw new Error(`xltsd did not start (${exited !== null ? `it exited with ${exited}` : 'no control socket after 30 s'}); ${paths.logFile}:\n${tail}`);
}

/** Connects to the run directory's xltsd, starting it if none runs. */
export async function connectDaemon(paths: RunPaths = runPaths()): Promise<ControlClient> {
  await ensureDaemon(paths);
  return ControlClient.connect(paths.controlSocket);
}
