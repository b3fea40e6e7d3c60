// Kernel-module metadata for the lab initramfs: which .ko files to pack and in which order
// busybox `insmod` must load them. Debian's linux-image package ships no modules.dep (depmod
// writes it at install time, and we do not install the package), and the host may lack kmod's
// modinfo, so the dependency list is read straight from each module's `.modinfo` ELF section,
// a run of NUL-terminated "key=value" strings in which "depends=a,b" names the modules it needs.

import { findElfSection } from './elf.ts';
import { LabImageError } from './errors.ts';

/** Kernel module names use '_' and '-' interchangeably ("kvm-amd.ko" is module kvm_amd). */
export function normalizeModuleName(name: string): string {
  return name.replace(/-/g, '_');
}

/** Module name of a file such as ".../kvm-amd.ko" or ".../9p.ko.xz". */
export function moduleNameOfFile(path: string): string | undefined {
  const base = path.slice(path.lastIndexOf('/') + 1);
  const match = /^(.+)\.ko(\.(xz|zst|gz))?$/.exec(base);
  return match?.[1] === undefined ? undefined : normalizeModuleName(match[1]);
}

/** The "key=value" strings of a module's `.modinfo` section, in order (keys may repeat). */
export function readModinfo(ko: Uint8Array): Array<readonly [string, string]> {
  const section = findElfSection(ko, '.modinfo');
  const entries: Array<readonly [string, string]> = [];
  const text = Buffer.from(section.buffer, section.byteOffset, section.byteLength).toString('utf8');
  for (const item of text.split('\0')) {
    const eq = item.indexOf('=');
    if (eq > 0) entries.push([item.slice(0, eq), item.slice(eq + 1)]);
  }
  return entries;
}

/** The modules this module needs loaded first (its "depends=" entry), normalised. */
export function moduleDependencies(ko: Uint8Array): string[] {
  const depends = readModinfo(ko).find(([key]) => key === 'depends')?.[1] ?? '';
  return depends
    .split(',')
    .map((d) => d.trim())
    .filter((d) => d.length > 0)
    .map(normalizeModuleName);
}

/**
 * Load order for `wanted` and everything they depend on: each module after all of its
 * dependencies, otherwise in the order asked for (so the order is stable and reviewable).
 * `dependsOf` answers for one module; a module it does not know is an error, as is a cycle.
 */
export function moduleLoadOrder(
  wanted: readonly string[],
  dependsOf: (name: string) => readonly string[] | undefined,
): string[] {
  const order: string[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (name: string, path: readonly string[]): void => {
    const seen = state.get(name);
    if (seen === 'done') return;
    if (seen === 'visiting') {
      throw new LabImageError(`module dependency cycle: ${[...path, name].join(' -> ')}`);
    }
    const deps = dependsOf(name);
    if (deps === undefined) {
      const via = path.length > 0 ? ` (needed by ${path[path.length - 1]})` : '';
      throw new LabImageError(`kernel module ${name}${via} is not in the kernel package`);
    }
    state.set(name, 'visiting');
    for (const dep of deps) visit(dep, [...path, name]);
    state.set(name, 'done');
    order.push(name);
  };
  for (const name of wanted) visit(normalizeModuleName(name), []);
  return order;
}
