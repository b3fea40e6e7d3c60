// The xl-like domain commands, thin clients of xltsd's control socket (cli/daemon-client.ts),
// which they start when none runs:
//   create [-c] [-p] cfg [key=value ...]   list [-l]   info [--json]
//   destroy|pause|unpause <domain>         shutdown [-w] [-r] <domain>   reboot [-w] <domain>
// A <domain> is a name or a domid. Errors from the daemon are printed as its message and give
// exit status 1, as xl does.
import type { Command } from 'commander';
import { parseDomainRef, type DomainSummary } from '../../dom0/control/commands.ts';
import type { ControlClient } from '../daemon-client.ts';

export async function withDaemon<T>(fn: (c: ControlClient) => Promise<T>): Promise<T> {
  const { connectDaemon } = await import('../daemon-client.ts');
  const client = await connectDaemon();
  try {
    return await fn(client);
  } finally {
    client.close();
  }
}

/** Runs a command action, printing a failure as one line and setting exit status 1. */
export function action<A extends unknown[]>(what: string, fn: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (err) {
      process.stderr.write(`xlts ${what}: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    }
  };
}

/** The default guest of `xlts guest build` for `@default-guest/<file>` in a cfg, built if missing. */
async function resolvePlaceholder(ref: { name: string; file: string; key: string }): Promise<string> {
  if (ref.name !== 'default-guest') throw new Error(`${ref.key}: unknown placeholder @${ref.name} (known: @default-guest)`);
  const { ensureLinuxGuest } = await import('../../guests/linux/build.ts');
  const { dirname, join } = await import('node:path');
  const guest = await ensureLinuxGuest({ log: (m) => process.stderr.write(`xlts create: guest build: ${m}\n`) });
  return join(dirname(guest.kernel), ref.file);
}

function formatList(domains: readonly DomainSummary[]): string {
  const rows = [['Name', 'ID', 'Mem', 'VCPUs', 'State', 'Time(s)']];
  for (const d of domains) rows.push([d.name, String(d.domid), String(d.memory), String(d.vcpus), d.phase, (d.uptime_ms / 1000).toFixed(1)]);
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')).join('\n') + '\n';
}

export function registerDomainCommands(program: Command): void {
  program
    .command('create')
    .description('create a domain from an xl.cfg file (key=value arguments override the file)')
    .argument('<cfg>', 'the domain config file')
    .argument('[overrides...]', 'key=value settings applied after the file, as xl does')
    .option('-c, --console', 'attach to the console once created')
    .option('-p, --paused', 'leave the domain paused (xlts unpause starts it)')
    .action(
      action('create', async (cfg: string, overrides: string[], opts: { console?: boolean; paused?: boolean }) => {
        const { loadXlCfgFile, formatIssue } = await import('../xl-cfg/index.ts');
        const mapped = await loadXlCfgFile(cfg, { overrides, resolvePlaceholder });
        for (const w of mapped.warnings) process.stderr.write(`xlts create: warning: ${formatIssue(w)}\n`);
        await withDaemon(async (c) => {
          const r = await c.request({ op: 'create', config: mapped.config, paused: opts.paused === true });
          process.stderr.write(`xlts create: domain ${r.name} created (domid ${r.domid})\n`);
          if (opts.console) {
            const { attachConsole } = await import('./console.ts');
            await attachConsole(c, r.domid);
          }
        });
      }),
    );

  program
    .command('list')
    .description('list domains (like xl list)')
    .option('-l, --long', 'print a JSON array (name, domid, state and more per domain)')
    .action(
      action('list', async (opts: { long?: boolean }) => {
        const { domains } = await withDaemon((c) => c.request({ op: 'list' }));
        if (opts.long) process.stdout.write(`${JSON.stringify(domains.map((d) => ({ ...d, state: d.phase })), null, 2)}\n`);
        else process.stdout.write(formatList(domains));
      }),
    );

  program
    .command('info')
    .description('host and daemon information (like xl info)')
    .option('--json', 'print JSON')
    .action(
      action('info', async (opts: { json?: boolean }) => {
        const info = await withDaemon((c) => c.request({ op: 'info' }));
        if (opts.json) process.stdout.write(`${JSON.stringify(info, null, 2)}\n`);
        else for (const [k, v] of Object.entries(info)) process.stdout.write(`${k.padEnd(20)}: ${String(v)}\n`);
      }),
    );

  for (const op of ['destroy', 'pause', 'unpause'] as const) {
    program
      .command(op)
      .description(`${op} a domain`)
      .argument('<domain>', 'name or domid')
      .action(
        action(op, async (domain: string) => {
          await withDaemon((c) => c.request({ op, domain: parseDomainRef(domain) }));
        }),
      );
  }

  program
    .command('shutdown')
    .description("ask a domain to shut down through control/shutdown in XenStore (the guest's own shutdown)")
    .argument('<domain>', 'name or domid')
    .option('-w, --wait', 'wait until the domain has shut down')
    .option('-r, --reboot', 'reboot instead of power off')
    .action(
      action('shutdown', async (domain: string, opts: { wait?: boolean; reboot?: boolean }) => {
        const r = await withDaemon((c) => c.request({ op: 'shutdown', domain: parseDomainRef(domain), reboot: opts.reboot === true, wait: opts.wait === true }));
        if (opts.wait) process.stderr.write(`xlts shutdown: domain ${r.domid} is ${r.phase}\n`);
      }),
    );

  program
    .command('reboot')
    .description('ask a domain to reboot through control/shutdown')
    .argument('<domain>', 'name or domid')
    .option('-w, --wait', 'wait until the domain has gone down')
    .action(
      action('reboot', async (domain: string, opts: { wait?: boolean }) => {
        await withDaemon((c) => c.request({ op: 'reboot', domain: parseDomainRef(domain), wait: opts.wait === true }));
      }),
    );
}
