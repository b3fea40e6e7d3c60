// The one C-side checker for layouts declared with ../layout.ts. A test lists probes (a C
// expression and the value our declarations say it has), this module writes one C program that
// prints every probe as a flat JSON object, compiles it with gcc against the real headers and
// returns what C says; the test then compares. Used by ring-buffer/layout-c-headers.spec.ts,
// hypervisor/xen/layout.spec.ts, test/kvm-structs.test.ts and test/pvh-start-info-layout.test.ts;
// test/pvh-xtf-abi.test.ts runs one probe list (CProbe, no expected values) against two sets of
// headers and compares the answers with each other. Without gcc or the headers the compile throws
// and the test fails rather than skips: an unchecked layout is what this prevents.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type AnyStructLayout, fieldSigned, fieldWidth } from '../layout.ts';

/** One fact to ask C: `num` is printed as an integer, `str` (a C string expression) as a string. */
export type CProbe = { readonly key: string } & ({ readonly num: string } | { readonly str: string });

/** A fact to ask C with the value our declarations say it has. */
export type Probe = CProbe & { readonly expected: number | string };

export interface LayoutProbeOptions {
  /** Also probe each integer field's signedness (needs GNU C's __typeof__). Default true. */
  readonly signedness?: boolean;
}

/**
 * The probes for one layout: its size, and the offset, width and (for integers) signedness of each
 * field, keyed `${name}.sizeof`, `${name}.${field}.offset|width|signed`. A layout bound to a member
 * of a bigger C struct (c.member) is measured relative to that member.
 */
export function layoutProbes(l: AnyStructLayout, options: LayoutProbeOptions = {}): Probe[] {
  const T = l.c.type;
  const m = l.c.member;
  const base = m === undefined ? '' : ` - offsetof(${T}, ${m})`;
  const size = l.c.sizeExpr ?? (m === undefined ? `sizeof(${T})` : `sizeof(((${T} *)0)->${m})`);
  const out: Probe[] = [{ key: `${l.name}.sizeof`, expected: l.size, num: size }];
  for (const [name, f] of Object.entries(l.fields)) {
    const d = (m === undefined ? '' : `${m}.`) + (f.c ?? name);
    out.push({ key: `${l.name}.${name}.offset`, expected: f.offset, num: `offsetof(${T}, ${d})${base}` });
    out.push({ key: `${l.name}.${name}.width`, expected: fieldWidth(f), num: `sizeof(((${T} *)0)->${d})` });
    const signed = options.signedness === false ? null : fieldSigned(f);
    if (signed !== null) {
      const elem = f.count === undefined ? d : `${d}[0]`;
      out.push({ key: `${l.name}.${name}.signed`, expected: signed ? 1 : 0, num: `((__typeof__(((${T} *)0)->${elem}))-1 < 0)` });
    }
  }
  return out;
}

/** The C program: `prelude` (feature macros first, includes, extra declarations), then main printing each probe. */
export function probeProgram(prelude: readonly string[], probes: readonly CProbe[]): string {
  const lines = probes.map((p, i) => {
    const sep = i === 0 ? '' : ',';
    return 'num' in p
      ? `  printf("${sep}%s: %lld\\n", ${JSON.stringify(JSON.stringify(p.key))}, (long long)(${p.num}));`
      : `  printf("${sep}%s: \\"%s\\"\\n", ${JSON.stringify(JSON.stringify(p.key))}, ${p.str});`;
  });
  return [...prelude, '#include <stddef.h>', '#include <stdio.h>', 'int main(void) {', '  printf("{\\n");', ...lines, '  printf("}\\n");', '  return 0;', '}', ''].join('\n');
}

/** Compiles and runs the probe program with gcc; returns what C printed, by key. */
export function runProbes(prelude: readonly string[], probes: readonly CProbe[], gccFlags: readonly string[] = ['-std=gnu11', '-Wall', '-Werror']): Record<string, number | string> {
  const dir = mkdtempSync(join(tmpdir(), 'xlts-c-layout-'));
  try {
    const src = join(dir, 'probes.c');
    const exe = join(dir, 'probes');
    writeFileSync(src, probeProgram(prelude, probes));
    execFileSync('gcc', [...gccFlags, '-o', exe, src], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
    return JSON.parse(execFileSync(exe, { encoding: 'utf8', timeout: 10_000 })) as Record<string, number | string>;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The two sides of a comparison for `expect(c).toEqual(ours)`: what C said and what we declared. */
export function compare(probes: readonly Probe[], fromC: Readonly<Record<string, number | string>>): { c: Record<string, unknown>; ours: Record<string, unknown> } {
  return {
    c: Object.fromEntries(probes.map((p) => [p.key, fromC[p.key]])),
    ours: Object.fromEntries(probes.map((p) => [p.key, p.expected])),
  };
}
