// `xlts shim-child`: the per-domain shim process xltsd forks (not for people: it needs xltsd's
// IPC channel). It waits for the domain's spec, runs the KVM or process engine, reports the
// guest's fate and exits.
import type { Command } from 'commander';

export function registerShimChild(program: Command): void {
  program
    .command('shim-child', { hidden: true })
    .description('internal: the shim process of one domain, started by xltsd')
    .action(async () => {
      const { Dom0LinkChild } = await import('../../hypervisor/shim/dom0-link.ts');
      const link = new Dom0LinkChild();
      const spec = await link.spec();
      try {
        if (spec.engine === 'process') {
          const { runProcessShim } = await import('../../guests/process/process-shim.ts');
          await runProcessShim(spec, link);
        } else {
          const { runKvmShim } = await import('../../hypervisor/shim/kvm-shim.ts');
          await runKvmShim(spec, link);
        }
      } catch (err) {
        await link.sendLast({ kind: 'fate', fate: { kind: 'shim-error', message: err instanceof Error ? err.message : String(err) } });
      }
      // Nothing of the guest outlives this process; the fate has been sent by the engine runner.
      await link.sendLast({ kind: 'log', line: `shim of domain ${spec.domid} exiting` });
      process.exit(0);
    });
}
