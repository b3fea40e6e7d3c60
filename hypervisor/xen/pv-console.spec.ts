import { describe, expect, it } from 'vitest';
import { consoleFrontend } from '../../ring-buffer/index.ts';
import { gpa } from '../memory/guest-memory.ts';
import { DOMID_SELF, EVTCHNOP_send, EVTCHNOP_status, EVTCHNSTAT_interdomain, EVTCHNSTAT_unbound, HVM_PARAM_CONSOLE_EVTCHN, HVM_PARAM_CONSOLE_PFN, __HYPERVISOR_event_channel_op } from './abi.ts';
import { PvConsole } from './pv-console.ts';
import { testDomain } from './test-support.ts';
import { evtchn_send, evtchn_status } from './wire.ts';

const PFN = 0x30;
const ARG = 0x3000;

function setup() {
  const t = testDomain();
  t.domain.delivery.mapSharedInfo(0x10n);
  t.domain.delivery.setUpcallVector(0, 0xf3);
  const out: number[] = [];
  const console = new PvConsole(t.domain, { pfn: PFN, output: (b) => out.push(...b), maxQueuedInput: 4096 });
  const page = t.memory.view(gpa(PFN * 4096), 4096);
  const guest = consoleFrontend(page);
  const kick = () => {
    t.memory.view(gpa(ARG), 4).set(evtchn_send.encode({ port: console.port }));
    return t.call(__HYPERVISOR_event_channel_op, EVTCHNOP_send, ARG).result;
  };
  const text = () => new TextDecoder().decode(Uint8Array.from(out));
  return { t, console, page, guest, kick, text, out };
}

describe('PvConsole', () => {
  it('publishes the page and port through the HVM params, as an interdomain port to dom0', () => {
    const { t, console } = setup();
    expect(t.domain.hvmParams.get(HVM_PARAM_CONSOLE_PFN)).toBe(BigInt(PFN));
    expect(t.domain.hvmParams.get(HVM_PARAM_CONSOLE_EVTCHN)).toBe(BigInt(console.port));
    t.memory.view(gpa(ARG), 24).set(evtchn_status.encode({ dom: DOMID_SELF, port: console.port, status: 0, vcpu: 0, u_word0: 0, u_word1: 0 }));
    expect(t.call(__HYPERVISOR_event_channel_op, EVTCHNOP_status, ARG).result).toBe(0);
    expect(evtchn_status.decode(t.memory.view(gpa(ARG), 24).slice())).toMatchObject({ status: EVTCHNSTAT_interdomain, u_word0: 0 });
  });

  it('drains the guest output ring to the sink when kicked, and kicks back', () => {
    const { t, guest, kick, text, console } = setup();
    guest.output.write(new TextEncoder().encode('hello from hvc0\n'));
    expect(text()).toBe(''); // nothing until the kick
    expect(kick()).toBe(0);
    expect(text()).toBe('hello from hvc0\n');
    expect(t.domain.delivery.sharedInfo.isPending(console.port)).toBe(true);
    // A kick with nothing new moves nothing and sends nothing back.
    t.domain.delivery.sharedInfo.clearPending(console.port);
    kick();
    expect(t.domain.delivery.sharedInfo.isPending(console.port)).toBe(false);
  });

  it('follows the ring across wrap-around', () => {
    const { guest, kick, out } = setup();
    let expected = 0;
    for (let round = 0; round < 10; round++) {
      const chunk = Uint8Array.from({ length: 700 }, (_, i) => (round * 700 + i) & 0xff);
      expect(guest.output.write(chunk)).toBe(700);
      kick();
      expected += 700;
    }
    expect(out.length).toBe(expected);
    expect(out.every((b, i) => b === (i & 0xff))).toBe(true);
  });

  it('feeds input into the in ring, queues what does not fit and flushes it as the guest reads', () => {
    const { t, guest, kick, console } = setup();
    const input = Uint8Array.from({ length: 3000 }, (_, i) => i & 0xff);
    expect(console.write(input)).toBe(3000);
    expect(console.queuedInput).toBe(3000 - 1024);
    expect(t.domain.delivery.sharedInfo.isPending(console.port)).toBe(true);
    const got: number[] = [];
    while (got.length < 3000) {
      const r = guest.input.read();
      expect(r.length).toBeGreaterThan(0);
      got.push(...r);
      kick(); // Linux kicks after consuming input
    }
    expect(got).toEqual(Array.from(input));
    expect(console.queuedInput).toBe(0);
    // The queue holds at most maxQueuedInput bytes beyond what the ring takes at once.
    expect(console.write(new Uint8Array(5000))).toBe(4096);
    expect(console.queuedInput).toBe(4096 - 1024);
  });

  it('stops serving, without throwing into the hypercall, when the guest corrupts an index', () => {
    const { t, page, kick, console, out } = setup();
    const dv = new DataView(page.buffer, page.byteOffset);
    dv.setUint32(3084, 5000, true); // out_prod: 5000 bytes in flight in a 2048-byte ring
    expect(kick()).toBe(0);
    expect(console.state.kind).toBe('broken');
    expect(out).toEqual([]);
    expect(t.log.lines.length).toBe(1);
    expect(kick()).toBe(0);
    expect(console.write(new Uint8Array(1))).toBe(0);
  });

  it('close() returns the guest port to unbound', () => {
    const { t, console } = setup();
    console.close();
    expect(console.state.kind).toBe('closed');
    expect(t.domain.evtchn.status(console.port).status).toBe(EVTCHNSTAT_unbound);
  });
});
