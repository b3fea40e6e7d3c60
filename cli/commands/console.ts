// `xlts console <domain>`: the domain's PV console (hvc0), relayed by xltsd: what the guest
// printed so far, then live output; keyboard input goes to the guest. On a terminal, Ctrl-] leaves
// (as in xl console). With a pipe as stdin, its bytes are typed into the console and the command
// stays until the domain goes away, like `xlts run`.
import type { Command } from 'commander';
import { parseDomainRef } from '../../dom0/control/commands.ts';
import type { ControlClient } from '../daemon-client.ts';
import { action, withDaemon } from './domains.ts';

const CTRL_RIGHT_BRACKET = 0x1d;

export async function attachConsole(c: ControlClient, domain: number | string): Promise<void> {
  const stdin = process.stdin;
  let domid = -1;
  const done = new Promise<void>((resolve) => {
    c.onClose = resolve;
  });
  c.onConsole = (id, data) => {
    if (id === domid || domid === -1) process.stdout.write(data);
  };
  const r = await c.request({ op: 'console-attach', domain });
  domid = r.domid;
  const onData = (chunk: Buffer): void => {
    if (stdin.isTTY && chunk.includes(CTRL_RIGHT_BRACKET)) {
      c.close();
      return;
    }
    c.sendConsole(domid, new Uint8Array(chunk));
  };
  if (stdin.isTTY) stdin.setRawMode(true);
  stdin.on('data', onData);
  await done;
  stdin.off('data', onData);
  if (stdin.isTTY) stdin.setRawMode(false);
  stdin.destroy();
}

export function registerConsole(program: Command): void {
  program
    .command('console')
    .description("attach to a domain's PV console (Ctrl-] leaves)")
    .argument('<domain>', 'name or domid')
    .action(
      action('console', async (domain: string) => {
        await withDaemon((c) => attachConsole(c, parseDomainRef(domain)));
      }),
    );
}
