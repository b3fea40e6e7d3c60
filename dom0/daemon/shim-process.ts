// xltsd's handle on one shim process: fork `xlts shim-child`, send it the spec, and turn what it
// says into events. Everything that crosses is checked (isFromShim): a shim runs code a guest
// can influence, so a malformed message ends that shim, not xltsd.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { EventEmitter } from 'eventemitter3';
import { isFromShim, type BuiltDomain, type FromShim, type LinkFate, type ShimSpec, type ToShim } from '../../hypervisor/shim/dom0-link.ts';

const XLTS_BIN = fileURLToPath(new URL('../../bin/xlts.js', import.meta.url));

export interface ShimProcessEvents {
  kick: (port: number) => void;
  output: (bytes: Uint8Array) => void;
  log: (line: string) => void;
  fate: (fate: LinkFate) => void;
  /** The process is gone; `fate` came first if the shim reported one. */
  exit: (code: number | null, signal: NodeJS.Signals | null) => void;
}

/** The shim refused the spec before anything ran, or died while building. */
export class ShimStartError extends Error {
  override readonly name = 'ShimStartError';
}

export class ShimProcess extends EventEmitter<ShimProcessEvents> {
  private readonly child: ChildProcess;
  private exited = false;
  readonly exitedPromise: Promise<void>;

  constructor(
    readonly spec: ShimSpec,
    options: { readonly logStderr?: (chunk: string) => void } = {},
  ) {
    super();
    this.child = fork(XLTS_BIN, ['shim-child'], { serialization: 'advanced', stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    this.child.stderr?.on('data', (chunk: Buffer) => options.logStderr?.(chunk.toString('utf8')));
    this.exitedPromise = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.exited = true;
        this.emit('exit', code, signal);
        resolve();
      });
    });
    this.child.on('message', (m: unknown) => this.receive(m));
    this.child.on('error', () => undefined); // surfaced as 'exit'
    this.send({ kind: 'spec', spec });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get isExited(): boolean {
    return this.exited;
  }

  private receive(m: unknown): void {
    if (!isFromShim(m)) {
      this.emit('log', `shim of domain ${this.spec.domid} sent a malformed message; killing it`);
      this.kill();
      return;
    }
    this.lastMessage?.(m);
    for (const w of [...this.bindWaiters]) w(m);
    switch (m.kind) {
      case 'kick':
        this.emit('kick', m.port);
        break;
      case 'output':
        this.emit('output', m.bytes);
        break;
      case 'log':
        this.emit('log', m.line);
        break;
      case 'fate':
        this.emit('fate', m.fate);
        break;
      default:
        break;
    }
  }

  private lastMessage: ((m: FromShim) => void) | null = null;

  /** Resolves with the built domain, or rejects with why the shim could not build it. */
  built(timeoutMs: number): Promise<BuiltDomain> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => finish(new ShimStartError(`the shim did not build the domain within ${timeoutMs / 1000} s`)), timeoutMs);
      const onExit = (code: number | null, signal: NodeJS.Signals | null): void => finish(new ShimStartError(`the shim exited while building (code ${code}, signal ${signal})`));
      const finish = (result: BuiltDomain | Error): void => {
        clearTimeout(timer);
        this.lastMessage = null;
        this.off('exit', onExit);
        if (result instanceof Error) reject(result);
        else resolve(result);
      };
      this.lastMessage = (m) => {
        if (m.kind === 'built') finish(m.info);
        else if (m.kind === 'refused') finish(new ShimStartError(m.message));
        else if (m.kind === 'fate') finish(new ShimStartError(m.fate.kind === 'shim-error' ? m.fate.message : `the guest ended while building: ${m.fate.kind}`));
      };
      this.on('exit', onExit);
    });
  }

  /** Binds the guest's unbound port `port` to Dom0; rejects with the shim's reason. */
  bind(port: number, timeoutMs = 10_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => done(new ShimStartError(`the shim did not answer a bind of port ${port}`)), timeoutMs);
      const listener = (m: FromShim): void => {
        if (m.kind === 'bound' && m.port === port) done(m.error === undefined ? null : new Error(`port ${port}: ${m.error}`));
      };
      const done = (err: Error | null): void => {
        clearTimeout(timer);
        this.bindWaiters.delete(listener);
        if (err) reject(err);
        else resolve();
      };
      this.bindWaiters.add(listener);
      this.send({ kind: 'bind', port });
    });
  }

  private readonly bindWaiters = new Set<(m: FromShim) => void>();

  /** Waits for the shim's acknowledgement of a pause or unpause. */
  acknowledge(kind: 'pause' | 'unpause', timeoutMs = 10_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const want = kind === 'pause' ? 'paused' : 'unpaused';
      const timer = setTimeout(() => {
        this.lastMessage = null;
        reject(new ShimStartError(`the shim did not ${kind} within ${timeoutMs / 1000} s`));
      }, timeoutMs);
      this.lastMessage = (m) => {
        if (m.kind === want) {
          clearTimeout(timer);
          this.lastMessage = null;
          resolve();
        }
      };
      this.send({ kind });
    });
  }

  send(m: ToShim): void {
    if (!this.exited && this.child.connected) this.child.send(m);
  }

  kill(): void {
    if (!this.exited) this.child.kill('SIGKILL');
  }

  /** Asks the shim to end the guest; kills it if it has not gone after `graceMs`. */
  async stop(graceMs = 3000): Promise<void> {
    if (this.exited) return;
    this.send({ kind: 'destroy' });
    const timer = setTimeout(() => this.kill(), graceMs);
    await this.exitedPromise;
    clearTimeout(timer);
  }
}
