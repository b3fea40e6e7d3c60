// The shim process of a process guest (xl.cfg type = "process"): the same process model as a KVM
// guest's shim (one child of xltsd per domain, guest RAM in a file xltsd maps, store and console
// rings served by xltsd, events over the Dom0 link), with a TypeScript program instead of vCPUs.
//
// Guest-physical layout (one flat RAM region from 0):
//   pfn 1  XenStore ring      pfn 2  console ring     pfn 3  shared_info
//   pfn 4  vcpu_info          pfn 5  scratch for hypercall arguments
//   pfn 16 and up: pages the program allocates (rings, I/O buffers)
// Grant frames live in their own file (<ram>.gnttab) that xltsd maps; the program writes its
// entries there directly (a process guest has no page tables to place them with).
import { SharedMemoryFile } from '../../hypervisor/memory/shared-memory-file.ts';
import { FileGuestMemory, gpa } from '../../hypervisor/memory/guest-memory.ts';
import type { Dom0LinkChild, LinkFate, ShimSpec } from '../../hypervisor/shim/dom0-link.ts';
import { ToolstackRings } from '../../hypervisor/shim/toolstack-rings.ts';
import { ProcessGuest, type DomainEvent } from '../../hypervisor/xen/index.ts';
import { XenstoreClient, XenstoreRingTransport } from '../../frontends/xenbus/index.ts';
import { consoleFrontend } from '../../ring-buffer/index.ts';
import { PvKernel } from './pv-kernel.ts';
import { builtinProgram } from './programs/index.ts';

const STORE_PFN = 1;
const CONSOLE_PFN = 2;
const KERNEL_LAYOUT = { sharedInfoPfn: 3, vcpuInfoPfn: 4, scratchPfn: 5 };
const FIRST_FREE_PFN = 16;

/** Out of guest RAM: the program asked for more pages than its memory= gives. */
export class GuestOutOfMemoryError extends Error {
  override readonly name = 'GuestOutOfMemoryError';
}
const MiB = 1024 * 1024;

export async function runProcessShim(spec: ShimSpec, link: Dom0LinkChild): Promise<void> {
  const program = spec.program === undefined ? undefined : builtinProgram(spec.program);
  if (program === undefined) {
    link.send({ kind: 'refused', message: `no built-in process program ${JSON.stringify(spec.program ?? '')}` });
    return;
  }
  const file = SharedMemoryFile.create(spec.ramPath, spec.memoryMiB * MiB);
  const memory = FileGuestMemory.flat(file);
  const gnttabPath = `${spec.ramPath}.gnttab`;
  const gnttab = SharedMemoryFile.create(gnttabPath, spec.maxGrantFrames * 4096);
  const grantFrames = Array.from({ length: spec.maxGrantFrames }, (_, i) => gnttab.bytes(i * 4096, 4096));
  let fate: LinkFate | null = null;
  let resolveFate: () => void = () => undefined;
  const ended = new Promise<void>((resolve) => (resolveFate = resolve));
  const end = (f: LinkFate): void => {
    if (fate !== null) return;
    fate = f;
    resolveFate();
  };
  const guest = new ProcessGuest({
    domid: spec.domid,
    vcpus: 1,
    memory,
    events: { domainEvent: (e: DomainEvent) => end({ kind: 'shutdown', reason: e.reason, how: `vcpu${e.vcpuId}: SCHEDOP_shutdown` }) },
    console: { write: (bytes) => link.send({ kind: 'output', bytes: bytes.slice() }) },
    log: { warn: (line) => link.send({ kind: 'log', line }) },
    // The program reaches its frames through the file view; placing them is bookkeeping only.
    grantFrames: { maxFrames: spec.maxGrantFrames, place: () => undefined },
  });
  const rings = new ToolstackRings(guest.domain, { storePfn: STORE_PFN, consolePfn: CONSOLE_PFN }, (port) => link.send({ kind: 'kick', port }));

  let unpaused: () => void = () => undefined;
  const running = new Promise<void>((resolve) => (unpaused = resolve));
  link.onMessage((m) => {
    switch (m.kind) {
      case 'raise':
        rings.raise(m.port);
        break;
      case 'bind': {
        let error: string | undefined;
        try {
          rings.bindDom0(m.port);
        } catch (err) {
          error = err instanceof Error ? err.message : String(err);
        }
        link.send({ kind: 'bound', port: m.port, ...(error !== undefined ? { error } : {}) });
        break;
      }
      case 'unbind':
        rings.unbindDom0(m.port);
        break;
      case 'unpause':
        unpaused();
        link.send({ kind: 'unpaused' });
        break;
      case 'pause':
        // A TypeScript program has no instruction stream to stop; it is idle between events anyway.
        link.send({ kind: 'paused' });
        break;
      case 'destroy':
        end({ kind: 'shutdown', reason: 'poweroff', how: 'destroyed by xltsd' });
        break;
      case 'spec':
        break;
    }
  });
  link.send({
    kind: 'built',
    info: {
      ramPath: spec.ramPath,
      ramSize: file.size,
      regions: [{ base: 0, size: file.size, fileOffset: 0 }],
      store: rings.store,
      console: rings.console,
      grantFrames: { path: gnttabPath, frames: spec.maxGrantFrames },
    },
  });
  await Promise.race([running, ended]);

  if (fate === null) {
    const cpu = guest.vcpu(0);
    const kernel = new PvKernel(cpu, memory, KERNEL_LAYOUT);
    try {
      kernel.boot();
      const storePort = rings.store.port;
      const transport = new XenstoreRingTransport(memory.view(gpa(STORE_PFN * 4096), 4096), () => kernel.send(storePort));
      kernel.bind(storePort, () => transport.onEvent());
      const consolePage = consoleFrontend(memory.view(gpa(CONSOLE_PFN * 4096), 4096));
      kernel.bind(rings.console.port, () => undefined);
      const console = (text: string): void => {
        consolePage.output.write(new TextEncoder().encode(text));
        kernel.send(rings.console.port);
      };
      const xenstore = new XenstoreClient(transport);
      let nextPfn = FIRST_FREE_PFN;
      const allocPage = (): { gfn: number; bytes: Uint8Array } => {
        if ((nextPfn + 1) * 4096 > file.size) throw new GuestOutOfMemoryError(`guest RAM (${spec.memoryMiB} MiB) is used up`);
        const gfn = nextPfn++;
        return { gfn, bytes: memory.view(gpa(gfn * 4096), 4096) };
      };
      void program({ domid: spec.domid, name: spec.name, cmdline: spec.cmdline ?? '', kernel, memory, xenstore, console, grantFrames, allocPage }).catch((err: unknown) =>
        end({ kind: 'crashed', how: `program ${spec.program}: ${err instanceof Error ? err.message : String(err)}` }),
      );
    } catch (err) {
      end({ kind: 'crashed', how: `program ${spec.program}: ${err instanceof Error ? err.message : String(err)}` });
    }
  }
  await ended;
  rings.close();
  file.close();
  gnttab.close();
  link.send({ kind: 'fate', fate: fate as unknown as LinkFate });
}
