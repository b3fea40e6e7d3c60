// Fakes for the specs in this folder: guest memory in a plain ArrayBuffer with holes (the shared
// hypervisor/memory/testing double, re-exported), a CpuContext with a page table of our choosing,
// recorders for the injected interfaces, and a ready domain.
import { PAGE_SIZE, gpa, type Gpa } from '../memory/guest-memory.ts';
import { ArrayGuestMemory } from '../memory/testing/array-guest-memory.ts';
import type { ConsoleIoSink } from './console-io.ts';
import { XenDomain, type XenDomainConfig } from './domain.ts';
import type { DomainEvent, DomainEventSink } from './domain-events.ts';
import type { UpcallInjector } from './event-delivery.ts';
import { identityTranslate, type AccessKind, type CpuContext } from './guest-access.ts';
import type { HypercallArgs, HypercallOutcome } from './hypercall.ts';
import { type FieldMap, type StructLayout, type StructValue } from '../../ring-buffer/layout.ts';
import type { HypervisorLog } from './log.ts';

export { ArrayGuestMemory };

/** A CpuContext whose translation is a map of guest-virtual page -> guest-physical page. */
export class PagedCpu implements CpuContext {
  readonly pages = new Map<bigint, { gpa: number; writable: boolean }>();

  constructor(
    readonly vcpuId = 0,
    readonly cpl = 0,
  ) {}

  map(gvaPage: bigint, gpaPage: number, writable = true): this {
    this.pages.set(gvaPage / BigInt(PAGE_SIZE), { gpa: gpaPage, writable });
    return this;
  }

  translate(gva: bigint, access: AccessKind): Gpa | null {
    const p = this.pages.get(gva / BigInt(PAGE_SIZE));
    if (!p || (access === 'write' && !p.writable)) return null;
    return gpa(p.gpa + Number(gva % BigInt(PAGE_SIZE)));
  }
}

/** A log that keeps its lines. */
export class RecordingLog implements HypervisorLog {
  readonly lines: string[] = [];
  warn(message: string): void {
    this.lines.push(message);
  }
}

/** Records what the domain tells its engine: injections, wake-ups, domain events, console bytes. */
export class EngineRecorder implements UpcallInjector, DomainEventSink, ConsoleIoSink {
  readonly injected: Array<[number, number]> = [];
  readonly woken: number[] = [];
  readonly events: DomainEvent[] = [];
  readonly output: number[] = [];
  input: number[] = [];
  inject(vcpuId: number, vector: number): void {
    this.injected.push([vcpuId, vector]);
  }
  wake(vcpuId: number): void {
    this.woken.push(vcpuId);
  }
  domainEvent(event: DomainEvent): void {
    this.events.push(event);
  }
  write(bytes: Uint8Array): void {
    this.output.push(...bytes);
  }
  read(max: number): Uint8Array {
    return Uint8Array.from(this.input.splice(0, max));
  }
  get text(): string {
    return new TextDecoder().decode(Uint8Array.from(this.output));
  }
}

/** A domain over 64 pages of identity-mapped memory, with helpers to place structs and call. */
export function testDomain(overrides: Partial<XenDomainConfig> = {}) {
  const memory = ArrayGuestMemory.flat(64);
  const engine = new EngineRecorder();
  const log = new RecordingLog();
  const domain = new XenDomain({ domid: 5, vcpus: 2, memory, injector: engine, events: engine, console: engine, log, ...overrides });
  const cpu = (vcpuId = 0, cpl = 0): CpuContext => ({ vcpuId, cpl, translate: identityTranslate });
  const call = (nr: number | bigint, ...args: Array<number | bigint>): HypercallOutcome => {
    const a = [0n, 0n, 0n, 0n, 0n].map((z, i) => (args[i] === undefined ? z : BigInt(args[i]!))) as unknown as HypercallArgs;
    return domain.dispatch(cpu(), nr, a);
  };
  const put = <F extends FieldMap>(layout: StructLayout<F>, addr: number, value: StructValue<F>): number => {
    memory.view(gpa(addr), layout.size).set(layout.encode(value));
    return addr;
  };
  const get = <F extends FieldMap>(layout: StructLayout<F>, addr: number): StructValue<F> => layout.decode(memory.view(gpa(addr), layout.size).slice());
  return { memory, engine, log, domain, cpu, call, put, get };
}
