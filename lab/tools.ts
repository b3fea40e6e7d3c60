// Running the host tools the image build needs (apt-get, apt-cache, dpkg-deb, xz, busybox),
// with the Debian package that provides each, so a missing tool becomes an error that says what
// to install instead of a bare ENOENT.

import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { LabImageError, LabToolMissingError } from './errors.ts';

/** Debian package providing each tool we shell out to. */
export const TOOL_PACKAGE = {
  'apt-get': 'apt',
  'apt-cache': 'apt',
  'dpkg-deb': 'dpkg',
  xz: 'xz-utils',
  zstd: 'zstd',
  busybox: 'busybox-static',
  'qemu-system-x86_64': 'qemu-system-x86',
} as const;

export type Tool = keyof typeof TOOL_PACKAGE;

/** Absolute path of an executable found on PATH, or undefined. */
export function findOnPath(name: string, path: string = process.env.PATH ?? ''): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

export interface ToolRun {
  readonly stdout: Buffer;
  readonly stderr: string;
}

/** Runs a tool to completion; a non-zero exit is a LabImageError quoting its stderr. */
export function runTool(
  tool: Tool,
  args: readonly string[],
  options: { cwd?: string; input?: Uint8Array; env?: NodeJS.ProcessEnv; executable?: string } = {},
): Promise<ToolRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(options.executable ?? tool, [...args], {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: [options.input ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on('data', (b: Buffer) => out.push(b));
    child.stderr?.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e: NodeJS.ErrnoException) => {
      reject(e.code === 'ENOENT' ? new LabToolMissingError(tool, TOOL_PACKAGE[tool]) : e);
    });
    if (options.input && child.stdin) {
      // EPIPE here means the tool quit early; its exit status carries the real error.
      child.stdin.on('error', () => undefined);
      child.stdin.end(options.input);
    }
    child.on('close', (code, signal) => {
      const stderr = Buffer.concat(err).toString('utf8');
      if (code === 0) {
        resolve({ stdout: Buffer.concat(out), stderr });
      } else {
        const how = signal ? `signal ${signal}` : `status ${code}`;
        reject(new LabImageError(`${tool} ${args.join(' ')} failed (${how}): ${stderr.trim()}`));
      }
    });
  });
}
