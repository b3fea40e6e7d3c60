// `xlts daemon [--background]`: run xltsd, the Dom0 daemon, for the run directory
// (${XLTS_RUN_DIR}, see dom0/daemon/run-dir.ts). In the foreground it logs to stderr and stops on
// SIGINT/SIGTERM, destroying its domains first; --background detaches it (log in xltsd.log) and
// returns once its control socket answers. Other xlts commands start it this way when none runs.
import type { Command } from 'commander';

export function registerDaemon(program: Command): void {
  program
    .command('daemon')
    .description('run xltsd, the Dom0 daemon (XenStore, domains, control socket)')
    .option('--background', 'detach; log to <run dir>/xltsd.log')
    .action(async (opts: { background?: boolean }) => {
      const { ensureDaemon } = await import('../daemon-client.ts');
      if (opts.background) {
        const paths = await ensureDaemon();
        process.stdout.write(`xltsd serving ${paths.dir}\n`);
        return;
      }
      const { startXltsd } = await import('../../dom0/daemon/xltsd.ts');
      const d = await startXltsd();
      const stop = (): void => {
        void d.close().then(() => process.exit(0));
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
}
