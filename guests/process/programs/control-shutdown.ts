// control/shutdown as Linux's drivers/xen/manage.c obeys it, for any process-guest program:
// announce feature-poweroff and feature-reboot, and on a request acknowledge it by clearing the
// node in a transaction (so it is acted on once), then poweroff or reboot through SCHEDOP_shutdown.
import type { ProgramEnv } from './program.ts';

/** Requests manage.c understands in control/shutdown ("halt" is poweroff for it too). */
const SHUTDOWN_REQUESTS = { poweroff: 'poweroff', halt: 'poweroff', reboot: 'reboot', crash: 'crash' } as const;

/**
 * Resolves, once the features are announced and the watch is set, to a promise of the
 * toolstack's request carried out; `before` runs first (a program closes its devices there, as
 * Linux's drivers do on the way down).
 */
export async function obeyControlShutdown(env: ProgramEnv, program: string, before: () => Promise<void> = async () => undefined): Promise<{ done: Promise<void> }> {
  const xs = env.xenstore;
  await xs.write('control/feature-poweroff', '1');
  await xs.write('control/feature-reboot', '1');
  let watching!: Promise<void>;
  const done = new Promise<void>((resolve) => {
    watching = xs.watch('control/shutdown', xs.uniqueToken('shutdown'), () => {
      void (async () => {
        const request = await xs.transaction(async (t) => {
          const value = await t.read('control/shutdown').catch(() => '');
          if (value !== '') await t.write('control/shutdown', '');
          return value;
        });
        if (request === '') return;
        const reason = SHUTDOWN_REQUESTS[request as keyof typeof SHUTDOWN_REQUESTS];
        if (reason === undefined) {
          env.console(`${program}: unknown shutdown request ${JSON.stringify(request)} ignored\n`);
          return;
        }
        env.console(`${program}: control/shutdown = ${request}: shutting down (${reason})\n`);
        await before().catch((e: unknown) => env.console(`${program}: ${String(e)}\n`));
        env.kernel.shutdown(reason);
        resolve();
      })();
    });
  });
  await watching;
  return { done };
}
