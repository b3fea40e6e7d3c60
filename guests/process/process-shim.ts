// The shim process of a process guest (xl.cfg type = "process"): the same process model as a KVM
// guest's shim (one child of xltsd per domain, guest RAM in a file xltsd maps, store and console
// rings served by xltsd, events over the Dom0 link), with a TypeScript program instead of vCPUs.
//
// Guest-physical layout (one flat RAM region from 0):
//   pfn 1  XenStore ring      pfn 2  console ring     pfn 3  shared_info
//   pfn 4  vcpu_info          pfn 5  scratch for hypercall arguments
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
const MiB = 1024 * 1024;

export async function runProcessShim(spec: ShimSpec, link: Dom0LinkChild): Promise<void> {
  const program = spec.program === undefined ? undefined : builtinProgram(spec.program);
  if (program === undefined) {
    link.send({ kind: 'refused', message: `no built-in process program ${JSON.stringify(spec.program ?? '')}` });
    return;
  }
  const file = SharedMemoryFile.create(spec.ramPath, spec.memoryMiB * MiB);
  const memory = FileGuestMemory.flat(file);
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
  });
  const rings = new ToolstackRings(guest.domain, { storePfn: STORE_PFN, consolePfn: CONSOLE_PFN }, (port) => link.send({ kind: 'kick', port }));

  let unpaused: () => void = () => undefined;
  const running = new Promise<void>((resolve) => (unpaused = resolve));
  link.onMessage((m) => {
    switch (m.kind) {
      case 'raise':
        rings.raise(m.port);
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
      void program({ domid: spec.domid, name: spec.name, kernel, memory, xenstore, console }).catch((err: unknown) =>
        end({ kind: 'crashed', how: `program ${spec.program}: ${err instanceof Error ? err.message : String(err)}` }),
      );
    } catch (err) {
      end({ kind: 'crashed', how: `program ${spec.program}: ${err instanceof Error ? err.message : String(err)}` });
    }
  }
  await ended;
  rings.close();
  file.close();
  link.send({ kind: 'fate', fate: fate as unknown as LinkFate });
}
