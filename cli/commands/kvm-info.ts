// `xlts kvm-info`: what this machine's /dev/kvm offers, by capability name, and whether the
// hypervisor shim can run on it. Exit status 0 when it can, 1 when /dev/kvm is unusable or a
// required capability is missing (the message then points at the KVM lab).
import type { Command } from 'commander';

export function registerKvmInfo(program: Command): void {
  program
    .command('kvm-info')
    .description("report this machine's KVM capabilities and whether the hypervisor shim can use them")
    .option('--json', 'print the report as JSON')
    .option('--device <path>', 'the KVM device', '/dev/kvm')
    .action(async (opts: { json?: boolean; device: string }) => {
      const { Kvm, kvmCapabilityReport, SHIM_REQUIRED_CAPABILITIES } = await import('../../hypervisor/kvm/index.ts');
      const kvm = Kvm.open(opts.device);
      const report = (() => {
        try {
          return kvmCapabilityReport(kvm);
        } finally {
          kvm.close();
        }
      })();
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
      } else {
        const required = (cap: string): boolean => SHIM_REQUIRED_CAPABILITIES.some((r) => r.cap === cap);
        const width = Math.max(...Object.keys(report.capabilities).map((k) => k.length));
        const lines = [
          `${report.path}: KVM API ${report.apiVersion}, vCPU mmap size ${report.vcpuMmapSize} bytes`,
          '',
          `${'capability'.padEnd(width)}    value  needed by the shim`,
          ...Object.entries(report.capabilities).map(
            ([cap, value]) => `${cap.padEnd(width)}  ${String(value).padStart(7)}  ${required(cap) ? 'yes' : ''}`,
          ),
          '',
          report.missing.length === 0
            ? 'the hypervisor shim can run on this KVM'
            : `missing for the hypervisor shim: ${report.missing.join(', ')}; run it in the KVM lab instead: npx xlts lab -- <command>`,
        ];
        process.stdout.write(`${lines.join('\n')}\n`);
      }
      if (report.missing.length > 0) process.exitCode = 1;
    });
}
