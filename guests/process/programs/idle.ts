// The `idle` process guest: connects to XenStore over its store ring, announces what a Linux
// guest announces (control/feature-poweroff and feature-reboot, as drivers/xen/manage.c does),
// obeys control/shutdown the way Linux does (acknowledge by clearing the node in a transaction,
// then poweroff or reboot through SCHEDOP_shutdown), and otherwise does nothing.
import type { ProgramEnv } from './program.ts';

/** Requests Linux's manage.c understands in control/shutdown ("halt" is poweroff for it too). */
const SHUTDOWN_REQUESTS = { poweroff: 'poweroff', halt: 'poweroff', reboot: 'reboot', crash: 'crash' } as const;

export async function idle(env: ProgramEnv): Promise<void> {
  const xs = env.xenstore;
  await xs.write('control/feature-poweroff', '1');
  await xs.write('control/feature-reboot', '1');
  env.console(`idle: domain ${env.domid} (${env.name}) is up; xenstore connected; waiting for control/shutdown\n`);
  await new Promise<void>((resolve) => {
    void xs.watch('control/shutdown', xs.uniqueToken('shutdown'), () => {
      void (async () => {
        // Read and clear in one transaction, as Linux does, so a request is acted on once.
        const request = await xs.transaction(async (t) => {
          const value = await t.read('control/shutdown').catch(() => '');
          if (value !== '') await t.write('control/shutdown', '');
          return value;
        });
        if (request === '') return;
        const reason = SHUTDOWN_REQUESTS[request as keyof typeof SHUTDOWN_REQUESTS];
        if (reason === undefined) {
          env.console(`idle: unknown shutdown request ${JSON.stringify(request)} ignored\n`);
          return;
        }
        env.console(`idle: control/shutdown = ${request}: shutting down (${reason})\n`);
        env.kernel.shutdown(reason);
        resolve();
      })();
    });
  });
}
