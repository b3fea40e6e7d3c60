// The link between xltsd and one shim process (a child it forks): what each side tells the other.
// Messages travel over Node's IPC channel with the 'advanced' (structured clone) serialization, so
// Uint8Arrays cross as bytes. The link carries only control: the guest's rings are read by xltsd
// directly from the guest's RAM file (it maps the store and console pages), and the events on
// them cross as `kick` (the guest notified Dom0) and `raise` (Dom0 notifies the guest).
//
//   xltsd                                       shim (child)
//   fork(..., ['shim-child']) ------------->
//   { kind: 'spec', spec }        --------->   builds the domain (RAM file, rings, ports), paused
//                                 <---------   { kind: 'built', info }
//   maps RAM, serves store + console rings
//   { kind: 'unpause' }           --------->   vCPUs run
//                                 <---------   { kind: 'kick', port }        (guest -> Dom0)
//   { kind: 'raise', port }       --------->                                 (Dom0 -> guest)
//                                 <---------   { kind: 'output', bytes }     (console_io, port 0xe9)
//                                 <---------   { kind: 'fate', fate }        then the child exits
//   { kind: 'bind', port }        --------->   a frontend's unbound port becomes Dom0's
//                                 <---------   { kind: 'bound', port, error? }
//   { kind: 'pause' | 'destroy' } --------->
import type { ShutdownReason } from '../xen/index.ts';

export type ShimEngine = 'kvm' | 'process';

/** What xltsd asks a shim to build. Paths are absolute. */
export interface ShimSpec {
  readonly domid: number;
  readonly name: string;
  readonly engine: ShimEngine;
  /** KVM engine: the PVH kernel and initrd. */
  readonly kernel?: string;
  readonly initrd?: string;
  /** The kernel command line, or a process program's argument string. */
  readonly cmdline?: string;
  /** Process engine: the built-in program's name. */
  readonly program?: string;
  readonly memoryMiB: number;
  readonly vcpus: number;
  readonly maxGrantFrames: number;
  /** Where to create the guest's RAM (a /dev/shm file xltsd maps and removes). */
  readonly ramPath: string;
}

/** A guest-physical range and where it sits in the RAM file. */
export interface RamRegion {
  readonly base: number;
  readonly size: number;
  readonly fileOffset: number;
}

/** Where the toolstack's rings are: a page of guest RAM and the guest's port bound to Dom0. */
export interface ToolstackRing {
  readonly pfn: number;
  readonly port: number;
}

export interface BuiltDomain {
  readonly ramPath: string;
  readonly ramSize: number;
  readonly regions: readonly RamRegion[];
  /** The grant table's frames, contiguous in a file xltsd maps to check and mark grant entries. */
  readonly grantFrames: { readonly path: string; readonly frames: number };
  readonly store: ToolstackRing;
  readonly console: ToolstackRing;
}

/** A GuestFate in a form that crosses the IPC channel (errors become messages). */
export type LinkFate =
  | { readonly kind: 'shutdown'; readonly reason: ShutdownReason; readonly how: string }
  | { readonly kind: 'crashed'; readonly how: string }
  | { readonly kind: 'shim-error'; readonly message: string }
  | { readonly kind: 'timeout'; readonly seconds: number };

export type ToShim =
  | { readonly kind: 'spec'; readonly spec: ShimSpec }
  | { readonly kind: 'unpause' }
  | { readonly kind: 'pause' }
  | { readonly kind: 'raise'; readonly port: number }
  /** Dom0 binds the guest's unbound port (EVTCHNOP_bind_interdomain from Dom0's side). */
  | { readonly kind: 'bind'; readonly port: number }
  | { readonly kind: 'unbind'; readonly port: number }
  | { readonly kind: 'destroy' };

export type FromShim =
  | { readonly kind: 'built'; readonly info: BuiltDomain }
  | { readonly kind: 'kick'; readonly port: number }
  | { readonly kind: 'output'; readonly bytes: Uint8Array }
  | { readonly kind: 'bound'; readonly port: number; readonly error?: string }
  | { readonly kind: 'paused' }
  | { readonly kind: 'unpaused' }
  | { readonly kind: 'log'; readonly line: string }
  | { readonly kind: 'fate'; readonly fate: LinkFate }
  /** The spec was refused before anything ran (bad kernel, no /dev/kvm, ...). */
  | { readonly kind: 'refused'; readonly message: string };

const TO_SHIM_KINDS: ReadonlySet<string> = new Set(['spec', 'unpause', 'pause', 'raise', 'bind', 'unbind', 'destroy']);

/** The child's gate on what arrives from its parent. */
export function isToShim(m: unknown): m is ToShim {
  if (typeof m !== 'object' || m === null) return false;
  const kind = (m as { kind?: unknown }).kind;
  if (typeof kind !== 'string' || !TO_SHIM_KINDS.has(kind)) return false;
  if (kind === 'raise' || kind === 'bind' || kind === 'unbind') return Number.isInteger((m as { port?: unknown }).port);
  if (kind === 'spec') return typeof (m as { spec?: unknown }).spec === 'object';
  return true;
}

const FROM_SHIM_KINDS: ReadonlySet<string> = new Set(['built', 'kick', 'output', 'bound', 'paused', 'unpaused', 'log', 'fate', 'refused']);

/** xltsd's gate on what a shim sends (a shim runs guest-influenced code: check the shape). */
export function isFromShim(m: unknown): m is FromShim {
  if (typeof m !== 'object' || m === null) return false;
  const v = m as Record<string, unknown>;
  if (typeof v.kind !== 'string' || !FROM_SHIM_KINDS.has(v.kind)) return false;
  switch (v.kind) {
    case 'kick':
    case 'bound':
      return Number.isInteger(v.port);
    case 'output':
      return v.bytes instanceof Uint8Array;
    case 'log':
    case 'refused':
      return typeof (v.line ?? v.message) === 'string';
    case 'fate':
      return typeof v.fate === 'object' && v.fate !== null && typeof (v.fate as { kind?: unknown }).kind === 'string';
    case 'built':
      return typeof v.info === 'object' && v.info !== null;
    default:
      return true;
  }
}

/** The child's end: messages from xltsd, and sending to it. */
export class Dom0LinkChild {
  private handler: ((m: ToShim) => void) | null = null;
  private readonly early: ToShim[] = [];

  constructor(private readonly proc: NodeJS.Process = process) {
    if (typeof proc.send !== 'function') throw new Error('this shim was not started by xltsd (no IPC channel)');
    proc.on('message', (m: unknown) => {
      if (!isToShim(m)) return;
      if (this.handler) this.handler(m);
      else this.early.push(m);
    });
  }

  onMessage(handler: (m: ToShim) => void): void {
    this.handler = handler;
    for (const m of this.early.splice(0)) handler(m);
  }

  send(m: FromShim): void {
    if (this.proc.connected) this.proc.send?.(m);
  }

  /** Sends the last message and resolves once it has left (the caller then exits). */
  sendLast(m: FromShim): Promise<void> {
    return new Promise((resolve) => {
      if (!this.proc.connected || this.proc.send === undefined) resolve();
      else this.proc.send(m, undefined, {}, () => resolve());
    });
  }

  /** Waits for the spec, which xltsd sends first. */
  spec(): Promise<ShimSpec> {
    return new Promise((resolve) => {
      this.onMessage((m) => {
        if (m.kind === 'spec') resolve(m.spec);
      });
    });
  }
}
