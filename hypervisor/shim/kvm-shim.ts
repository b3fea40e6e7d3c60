// The shim process of a KVM guest under xltsd: prepareGuest refuses bad input before anything
// exists (reported as `refused`), runGuest runs it with the Dom0 attachment, and the fate goes
// back over the link.
import { ShimInputError } from './errors.ts';
import type { Dom0LinkChild, LinkFate, ShimSpec } from './dom0-link.ts';
import type { GuestFate } from './exit-status.ts';
import { prepareGuest, runGuest, type Dom0Handlers } from './shim.ts';

export function linkFate(f: GuestFate): LinkFate {
  return f.kind === 'shim-error' ? { kind: 'shim-error', message: f.error.message } : f;
}

export async function runKvmShim(spec: ShimSpec, link: Dom0LinkChild): Promise<void> {
  if (spec.kernel === undefined) {
    link.send({ kind: 'refused', message: 'no kernel given' });
    return;
  }
  let prepared;
  try {
    prepared = await prepareGuest({
      kernelPath: spec.kernel,
      ...(spec.initrd !== undefined ? { initrdPath: spec.initrd } : {}),
      ...(spec.cmdline !== undefined ? { cmdline: spec.cmdline } : {}),
      memoryMiB: spec.memoryMiB,
      vcpus: spec.vcpus,
      maxGrantFrames: spec.maxGrantFrames,
    });
  } catch (err) {
    if (err instanceof ShimInputError) {
      link.send({ kind: 'refused', message: err.message });
      return;
    }
    throw err;
  }
  let handlers: Dom0Handlers | null = null;
  let go: () => void = () => undefined;
  const released = new Promise<void>((resolve) => (go = resolve));
  link.onMessage((m) => {
    switch (m.kind) {
      case 'unpause':
        if (handlers === null) go();
        else handlers.unpause();
        link.send({ kind: 'unpaused' });
        break;
      case 'pause':
        void handlers?.pause().then(() => link.send({ kind: 'paused' }));
        break;
      case 'raise':
        handlers?.raise(m.port);
        break;
      case 'bind': {
        const error = handlers === null ? 'the domain is not built yet' : handlers.bind(m.port);
        link.send({ kind: 'bound', port: m.port, ...(error !== undefined ? { error } : {}) });
        break;
      }
      case 'unbind':
        handlers?.unbind(m.port);
        break;
      case 'destroy':
        handlers?.destroy();
        break;
      case 'spec':
        break;
    }
  });
  const result = await runGuest(prepared, {
    output: (bytes) => link.send({ kind: 'output', bytes: bytes.slice() }),
    log: { warn: (line) => link.send({ kind: 'log', line }) },
    dom0: {
      ramPath: spec.ramPath,
      built: async (info) => {
        link.send({ kind: 'built', info });
        await released;
      },
      kick: (port) => link.send({ kind: 'kick', port }),
      attach: (h) => {
        handlers = h;
      },
    },
  });
  link.send({ kind: 'fate', fate: linkFate(result.fate) });
}
