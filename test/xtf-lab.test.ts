// Every test-guest run of the catalog under real KVM, in ONE boot of the KVM lab (each boot costs
// ~10 s of TCG plus node start-up): the xtf-suite runner boots them one after the other through
// the shim and prints a judged summary as JSON; then `xlts run` itself is run for two shutdown
// reasons, to check the CLI's own exit status. Skips, loudly, only when QEMU is absent.
// Each run costs 4-7 s in the lab (node, tsx and the vCPU worker starting under TCG), the whole
// catalog ~100 s.
import { describe, expect, it } from 'vitest';
import { buildTestGuests } from '../guests/xtf/build.ts';
import { XTF_RUNS } from '../guests/xtf/catalog.ts';
import { QEMU_BINARY, runInLab } from '../lab/index.ts';
import { findOnPath } from '../lab/tools.ts';
import { XLTS_RUN_EXIT } from '../hypervisor/shim/exit-status.ts';
import { type XtfSuiteResult, expectedStatus } from '../hypervisor/shim/xtf-suite.ts';

const skipReason =
  process.platform !== 'linux' || process.arch !== 'x64'
    ? `the lab needs an x86-64 Linux host; this is ${process.platform}/${process.arch}`
    : findOnPath(QEMU_BINARY) === undefined
      ? `${QEMU_BINARY} is not installed (Debian package qemu-system-x86; run npm run setup)`
      : undefined;
if (skipReason !== undefined) console.warn(`\n*** test/xtf-lab.test.ts SKIPPED: ${skipReason} ***\n`);

describe.skipIf(skipReason !== undefined)('test guests under real KVM in the lab', () => {
  it('passes every catalog run, and xlts run exits with the fate\'s status', async () => {
    // Built on the host into the cache, which the lab sees read-only at the same path.
    const guests = new Map((await buildTestGuests()).map((g) => [g.name, g.path]));
    const shutdown = guests.get('shutdown')!;
    const script = [
      `npx tsx hypervisor/shim/xtf-suite.ts --json --timeout 60; echo "SUITE-STATUS=$?"`,
      `npx xlts run --kernel '${shutdown}' --memory 32 --cmdline reason=reboot > /dev/null; echo "CLI-REBOOT=$?"`,
      `npx xlts run --kernel '${shutdown}' --memory 32 --cmdline reason=crash > /dev/null; echo "CLI-CRASH=$?"`,
      `npx xlts run --kernel '${shutdown}' --memory 32 --cmdline reason=poweroff > /dev/null; echo "CLI-POWEROFF=$?"`,
    ].join('\n');
    const r = await runInLab({ argv: ['sh', '-c', script], timeoutMs: 540_000 });
    const out = r.stdout.toString();
    const json = /^XTF-SUITE-JSON (.*)$/m.exec(out)?.[1];
    expect(json, `no summary from the lab; stdout:\n${out}\nstderr:\n${r.stderr.toString()}`).toBeDefined();
    const results = JSON.parse(json!) as XtfSuiteResult[];
    const runs = XTF_RUNS;
    expect(results.map((x) => x.id)).toEqual(runs.map((x) => x.id));
    for (const run of runs) {
      const res = results.find((x) => x.id === run.id)!;
      expect(res.problems, `${run.id}: ${res.fate}`).toEqual([]);
      expect(res.passes, run.id).toBeGreaterThanOrEqual(run.minPasses);
      expect(res.status, run.id).toBe(expectedStatus(run.expectShutdown));
    }
    const statuses = out.split('\n').filter((l) => /^(SUITE|CLI)-[A-Z]+=/.test(l));
    const why = `statuses ${statuses.join(' ')}; lab stderr:\n${r.stderr.toString().slice(-4000)}`;
    expect(statuses, why).toEqual(['SUITE-STATUS=0', `CLI-REBOOT=${XLTS_RUN_EXIT.reboot}`, `CLI-CRASH=${XLTS_RUN_EXIT.crash}`, `CLI-POWEROFF=${XLTS_RUN_EXIT.poweroff}`]);
    expect(r.status).toBe(0);
  }, 600_000);
});
