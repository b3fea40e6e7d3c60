// The built-in process-guest programs, by the name xl.cfg's `program =` gives.
import { blkbench } from './blkbench.ts';
import { blkhotplug } from './blkhotplug.ts';
import { idle } from './idle.ts';
import type { ProcessProgram } from './program.ts';

export type { ProcessProgram, ProgramEnv } from './program.ts';

export const BUILTIN_PROGRAMS: ReadonlyMap<string, ProcessProgram> = new Map([
  ['idle', idle],
  ['blkbench', blkbench],
  ['blkhotplug', blkhotplug],
]);

export function builtinProgram(name: string): ProcessProgram | undefined {
  return BUILTIN_PROGRAMS.get(name);
}
