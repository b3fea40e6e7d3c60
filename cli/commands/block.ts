// The xl-like block device commands, clients of xltsd's control socket:
//   block-attach <domain> <disk-spec>...    (xl's DISKSPEC; several words are joined with commas)
//   block-detach [-f] <domain> <vdev|devid>
//   block-list [--json] <domain>            (both ends' xenbus states and blkback's counters)
import * as path from 'node:path';
import type { Command } from 'commander';
import { parseDomainRef, type BlockDeviceInfo } from '../../dom0/control/commands.ts';
import { action, withDaemon } from './domains.ts';

function formatBlockList(devices: readonly BlockDeviceInfo[]): string {
  const rows = [['Vdev', 'BE', 'FE', 'Access', 'Requests', 'Read', 'Written', 'Errors', 'Req/notify', 'Target']];
  for (const d of devices) {
    const s = d.stats;
    const perNotify = s.notifications_in === 0 ? '-' : (s.requests / s.notifications_in).toFixed(1);
    rows.push([`${d.vdev}/${d.devid}`, String(d.backend_state), String(d.frontend_state), d.access, String(s.requests), mib(s.bytes_read), mib(s.bytes_written), String(s.errors), perNotify, d.target]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === 0 || i === r.length - 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd()).join('\n') + '\n';
}

function mib(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)}M`;
}

export function registerBlockCommands(program: Command): void {
  program
    .command('block-attach')
    .description("hot-plug a disk into a running or paused domain (xl's DISKSPEC, e.g. /var/img.raw,raw,xvdb,rw)")
    .argument('<domain>', 'name or domid')
    .argument('<disk-spec...>', 'the DISKSPEC; separate words are joined with commas, as xl does')
    .action(
      action('block-attach', async (domain: string, words: string[]) => {
        const { parseDiskSpec, toDiskSpec } = await import('../xl-cfg/index.ts');
        // Relative targets are taken from the current folder, as xl does.
        const disk = toDiskSpec(parseDiskSpec(words.join(',')), (t) => path.resolve(t));
        const r = await withDaemon((c) => c.request({ op: 'block-attach', domain: parseDomainRef(domain), disk }));
        process.stderr.write(`xlts block-attach: ${r.vdev} (devid ${r.devid}) attached to domain ${r.domid}\n`);
      }),
    );

  program
    .command('block-detach')
    .description('unplug a disk: the guest is asked to let go, and the answer waits for it')
    .argument('<domain>', 'name or domid')
    .argument('<device>', 'the vdev (xvdb) or devid (51728)')
    .option('-f, --force', 'remove the disk even if the guest does not let go (its I/O to it then fails)')
    .action(
      action('block-detach', async (domain: string, device: string, opts: { force?: boolean }) => {
        const r = await withDaemon((c) => c.request({ op: 'block-detach', domain: parseDomainRef(domain), device, force: opts.force === true }));
        process.stderr.write(`xlts block-detach: ${r.vdev} (devid ${r.devid}) detached from domain ${r.domid}${r.forced ? ' (forced: the guest had not let go)' : ''}\n`);
      }),
    );

  program
    .command('block-list')
    .description("list a domain's disks: xenbus states of backend (BE) and frontend (FE), 4 = connected, and blkback's counters")
    .argument('<domain>', 'name or domid')
    .option('--json', 'print the devices and all counters as JSON')
    .action(
      action('block-list', async (domain: string, opts: { json?: boolean }) => {
        const r = await withDaemon((c) => c.request({ op: 'block-list', domain: parseDomainRef(domain) }));
        process.stdout.write(opts.json ? `${JSON.stringify(r.devices, null, 2)}\n` : formatBlockList(r.devices));
      }),
    );
}
