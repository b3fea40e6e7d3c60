// xenstore-read|write|ls|rm|chmod|watch through xltsd's control socket, for hosts without
// Debian's xenstore-utils (with them: XENSTORED_PATH=$(xlts info --json | jq -r .xenstore_socket)).
import type { Command } from 'commander';
import type { XsPermission } from '../../dom0/control/commands.ts';
import { action, withDaemon } from './domains.ts';

function parsePerm(s: string): XsPermission {
  const m = /^([nrwb])(\d+)$/.exec(s);
  if (m === null) throw new Error(`permission ${JSON.stringify(s)}: expected n|r|w|b followed by a domid, e.g. r1`);
  return { perm: m[1] as XsPermission['perm'], domid: Number(m[2]) };
}

export function registerXenstoreCommands(program: Command): void {
  program
    .command('xenstore-read')
    .argument('<path...>')
    .description('print the values of XenStore nodes')
    .action(
      action('xenstore-read', async (paths: string[]) => {
        await withDaemon(async (c) => {
          for (const path of paths) process.stdout.write(`${(await c.request({ op: 'xenstore-read', path })).value}\n`);
        });
      }),
    );
  program
    .command('xenstore-write')
    .argument('<path>')
    .argument('<value>')
    .description('write a XenStore node (creating its parents)')
    .action(action('xenstore-write', async (path: string, value: string) => void (await withDaemon((c) => c.request({ op: 'xenstore-write', path, value })))));
  program
    .command('xenstore-rm')
    .argument('<path>')
    .description('remove a XenStore node and everything below it')
    .action(action('xenstore-rm', async (path: string) => void (await withDaemon((c) => c.request({ op: 'xenstore-rm', path })))));
  program
    .command('xenstore-ls')
    .argument('[path]', 'subtree to list', '/')
    .description('list a XenStore subtree, one "path = value" line per node')
    .action(
      action('xenstore-ls', async (path: string) => {
        const { nodes } = await withDaemon((c) => c.request({ op: 'xenstore-ls', path }));
        for (const n of nodes) process.stdout.write(`${n.path} = ${JSON.stringify(n.value)}\n`);
      }),
    );
  program
    .command('xenstore-chmod')
    .argument('<path>')
    .argument('<perms...>', 'owner first, e.g. n0 r1')
    .description("set a XenStore node's permissions")
    .action(
      action('xenstore-chmod', async (path: string, perms: string[]) => {
        const parsed = perms.map(parsePerm);
        await withDaemon((c) => c.request({ op: 'xenstore-chmod', path, perms: parsed }));
      }),
    );
  program
    .command('xenstore-watch')
    .argument('<path>')
    .description('print "path token" for every change at or below path, until interrupted')
    .action(
      action('xenstore-watch', async (path: string) => {
        await withDaemon(async (c) => {
          const closed = new Promise<void>((resolve) => (c.onClose = resolve));
          c.onEvent = (e) => {
            if (e.kind === 'xenstore-watch') process.stdout.write(`${e.path} ${e.token}\n`);
          };
          await c.request({ op: 'xenstore-watch', path, token: 'cli' });
          await closed;
        });
      }),
    );
}
