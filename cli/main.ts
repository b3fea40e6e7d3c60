// The `xlts` toolstack CLI. `main(argv)` is exported so tests drive it in-process, as `xl` is driven
// by scripts; each command lives in cli/commands/ and registers itself on the program.
import { Command, CommanderError } from 'commander';
import { registerBench } from './commands/bench.ts';
import { registerDemo } from './commands/demo.ts';
import { registerGuest } from './commands/guest.ts';
import { registerLab } from './commands/lab.ts';
import { registerKvmInfo } from './commands/kvm-info.ts';
import { registerRun } from './commands/run.ts';
import { registerShimChild } from './commands/shim-child.ts';
import { registerDaemon } from './commands/daemon.ts';
import { registerDomainCommands } from './commands/domains.ts';
import { registerConsole } from './commands/console.ts';
import { registerXenstoreCommands } from './commands/xenstore.ts';
import { registerBlockCommands } from './commands/block.ts';

export function buildProgram(): Command {
  const program = new Command('xlts')
    .description('Xen-style paravirtualization on KVM: the toolstack')
    .version('0.1.0')
    .exitOverride()
    .showHelpAfterError();
  registerDemo(program);
  registerBench(program);
  registerGuest(program);
  registerLab(program);
  registerKvmInfo(program);
  registerRun(program);
  registerShimChild(program);
  registerDaemon(program);
  registerDomainCommands(program);
  registerConsole(program);
  registerXenstoreCommands(program);
  registerBlockCommands(program);
  return program;
}

/** Runs the CLI; resolves to the process exit status. */
export async function main(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync([...argv]);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    process.stderr.write(`xlts: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}
