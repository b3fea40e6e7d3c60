// Every test-guest run of the catalog, booted by the shim on this host's /dev/kvm, in this
// process (the same runGuest as `xlts run`). On kvm_pvm every guest works: they are built from
// integer instructions its emulator knows (test/pvh-xtf-guests.test.ts checks that). Skips,
// loudly, only where there is no usable /dev/kvm at all; test/xtf-lab.test.ts covers real KVM.
import { describe, expect, it } from 'vitest';
import { detectKvmHost } from '../lab/kvm-host.ts';
import { XTF_RUNS } from '../guests/xtf/catalog.ts';
import { formatResult, runXtfSuite } from '../hypervisor/shim/xtf-suite.ts';

const host = detectKvmHost();
const skipReason = !host.devKvm || !host.devKvmAccessible ? host.message : undefined;
if (skipReason !== undefined) console.warn(`\n*** test/xtf-host.test.ts SKIPPED: ${skipReason} ***\n`);

describe.skipIf(skipReason !== undefined)(`test guests on this host's /dev/kvm (${host.provider ?? 'none'})`, () => {
  it('passes every catalog run with the exit status its shutdown reason maps to', async () => {
    const results = await runXtfSuite({ timeoutMs: 60_000 });
    expect(results.map((r) => r.id)).toEqual(XTF_RUNS.map((r) => r.id));
    const bad = results.filter((r) => !r.ok).map(formatResult);
    expect(bad, bad.join('\n')).toEqual([]);
    const byId = new Map(results.map((r) => [r.id, r]));
    expect(byId.get('shutdown-poweroff')?.status).toBe(0);
    expect(byId.get('shutdown-reboot')?.status).toBe(4);
    expect(byId.get('shutdown-crash')?.status).toBe(5);
    expect(byId.get('evtchn')?.passes).toBeGreaterThanOrEqual(20);
  }, 600_000);
});
