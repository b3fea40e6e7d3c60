// The `idle` process guest: connects to XenStore over its store ring, announces what a Linux
// guest announces (control/feature-poweroff and feature-reboot), obeys control/shutdown the way
// Linux does, and otherwise does nothing.
import { obeyControlShutdown } from './control-shutdown.ts';
import type { ProgramEnv } from './program.ts';

export async function idle(env: ProgramEnv): Promise<void> {
  const shutdown = await obeyControlShutdown(env, 'idle');
  env.console(`idle: domain ${env.domid} (${env.name}) is up; xenstore connected; waiting for control/shutdown\n`);
  await shutdown.done;
}
