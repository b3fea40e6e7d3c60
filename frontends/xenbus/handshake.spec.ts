import { describe, expect, it } from 'vitest';
import { XenbusState } from '../../ring-buffer/xenbus.ts';
import { XS } from '../../ring-buffer/xs-wire.ts';
import { XenstoreClient } from './client.ts';
import { XenbusDeviceGoneError, XenbusTimeoutError } from './errors.ts';
import { switchState, waitForState } from './handshake.ts';
import { FakeXenstore, serveFake } from './testing/fake-xenstore.ts';
import { memoryTransportPair } from './testing/memory-transport.ts';

const FE = '/local/domain/1/device/vbd/768';
const BE = '/local/domain/0/backend/vbd/1/768';

function setup() {
  const fake = new FakeXenstore();
  const { client, server } = memoryTransportPair();
  serveFake(fake, server);
  return { fake, xs: new XenstoreClient(client), server };
}

function writesTo(fake: FakeXenstore, path: string): number {
  return fake.log.filter((r) => r.type === XS.XS_WRITE && r.fields[0] === path).length;
}

describe('switchState', () => {
  it('writes the state only when it changes, and traces each transition written', async () => {
    const { fake, xs } = setup();
    fake.write(`${FE}/state`, '1');
    const trace: string[] = [];
    const opts = { trace: (p: string, from: XenbusState | null, to: XenbusState) => trace.push(`${p}:${from}->${to}`) };
    expect(await switchState(xs, FE, XenbusState.XenbusStateInitialised, opts)).toBe('written');
    expect(fake.read(`${FE}/state`)).toBe('3');
    expect(await switchState(xs, FE, XenbusState.XenbusStateInitialised, opts)).toBe('unchanged');
    expect(await switchState(xs, FE, XenbusState.XenbusStateConnected, opts)).toBe('written');
    expect(fake.read(`${FE}/state`)).toBe('4');
    expect(writesTo(fake, `${FE}/state`)).toBe(2);
    expect(trace).toEqual([`${FE}:1->3`, `${FE}:3->4`]);
  });

  it('overwrites a state node holding garbage, tracing it as from null', async () => {
    const { fake, xs } = setup();
    fake.write(`${FE}/state`, 'banana');
    const trace: (XenbusState | null)[] = [];
    expect(await switchState(xs, FE, XenbusState.XenbusStateClosing, { trace: (_p, from) => trace.push(from) })).toBe('written');
    expect(fake.read(`${FE}/state`)).toBe('5');
    expect(trace).toEqual([null]);
  });

  it('refuses to recreate a removed device directory', async () => {
    const { fake, xs } = setup();
    fake.write('/local/domain/1/device/vbd/other', '');
    await expect(switchState(xs, FE, XenbusState.XenbusStateConnected)).rejects.toThrow(XenbusDeviceGoneError);
    expect(fake.read(`${FE}/state`)).toBeUndefined();
    expect(fake.read(FE)).toBeUndefined();
  });

  it('retries when the toolstack writes during the switch', async () => {
    const { fake, xs } = setup();
    fake.write(`${FE}/state`, '1');
    fake.failCommits = 2;
    expect(await switchState(xs, FE, XenbusState.XenbusStateInitialising)).toBe('unchanged');
    expect(await switchState(xs, FE, XenbusState.XenbusStateInitWait)).toBe('written');
    expect(fake.read(`${FE}/state`)).toBe('2');
  });
});

describe('waitForState', () => {
  it('returns at once when the peer is already in a wanted state, and removes its watch', async () => {
    const { fake, xs } = setup();
    fake.write(`${BE}/state`, '2');
    expect(await waitForState(xs, BE, [XenbusState.XenbusStateInitWait, XenbusState.XenbusStateConnected], 1000)).toBe(2);
    expect(fake.watchCount()).toBe(0);
  });

  it('follows the peer through states it does not want until one it does', async () => {
    const { fake, xs } = setup();
    fake.write(`${BE}/state`, '1');
    const wait = waitForState(xs, BE, [XenbusState.XenbusStateConnected], 5000);
    setTimeout(() => fake.write(`${BE}/state`, '2'), 5);
    setTimeout(() => fake.write(`${BE}/feature-barrier`, '1'), 10);
    setTimeout(() => fake.write(`${BE}/state`, '4'), 20);
    expect(await wait).toBe(XenbusState.XenbusStateConnected);
    expect(fake.watchCount()).toBe(0);
  });

  it('treats a missing node as XenbusStateUnknown and garbage as no state at all', async () => {
    const { fake, xs } = setup();
    expect(await waitForState(xs, BE, [XenbusState.XenbusStateUnknown], 1000)).toBe(0);
    fake.write(`${BE}/state`, '4x');
    const wait = waitForState(xs, BE, [XenbusState.XenbusStateConnected, XenbusState.XenbusStateUnknown], 5000);
    setTimeout(() => fake.write(`${BE}/state`, '4'), 10);
    expect(await wait).toBe(4);
  });

  it('times out with the last value it saw, and removes its watch', async () => {
    const { fake, xs } = setup();
    fake.write(`${BE}/state`, '9');
    const e = await waitForState(xs, BE, [XenbusState.XenbusStateConnected], 30).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(XenbusTimeoutError);
    expect(e).toMatchObject({ path: BE, lastSeen: '9', wanted: ['XenbusStateConnected'], timeoutMs: 30 });
    expect(fake.watchCount()).toBe(0);
    expect(xs.error).toBeNull();
  });

  it('fails with the connection error when the connection dies while waiting', async () => {
    const { fake, xs, server } = setup();
    fake.write(`${BE}/state`, '1');
    const wait = waitForState(xs, BE, [XenbusState.XenbusStateConnected], 5000).catch((x: unknown) => x);
    await new Promise((r) => setTimeout(r, 5));
    const cause = new Error('gone');
    server.end(cause);
    fake.write(`${BE}/state`, '4');
    expect(await wait).toBe(cause);
  });
});
