import { describe, expect, it } from 'vitest';
import { ControlProtocolError } from './errors.ts';
import { decodeFrameBody, encodeFrame } from './framing.ts';
import { parseClientMessage, parseServerMessage, type ClientMessage, type ServerMessage } from './messages.ts';

/** Through the real framing, as the peer would see it. */
const wire = (m: unknown): unknown => decodeFrameBody(encodeFrame(m).subarray(4));

describe('parseClientMessage', () => {
  it('passes requests (command unchecked) and console input', () => {
    const req: ClientMessage = { id: 1, command: { op: 'list' } };
    expect(parseClientMessage(wire(req))).toEqual(req);
    expect(parseClientMessage(wire({ id: 2, command: 'anything' }))).toEqual({ id: 2, command: 'anything' });
    const input: ClientMessage = { console: { domid: 3, data: new Uint8Array([104, 105]) } };
    expect(parseClientMessage(wire(input))).toEqual(input);
  });

  it('refuses what is not a message', () => {
    for (const bad of [
      { command: { op: 'list' } },
      { id: -1, command: {} },
      { id: 2 ** 32, command: {} },
      { id: 1.5, command: {} },
      { id: 1 },
      { id: 1, command: {}, extra: true },
      { console: { domid: 3, data: 'text' } },
      { console: { domid: 3, data: new Uint8Array(1), more: 1 } },
    ]) {
      expect(() => parseClientMessage(wire(bad)), JSON.stringify(bad)).toThrow(ControlProtocolError);
    }
  });
});

describe('parseServerMessage', () => {
  it('passes responses, events and console output', () => {
    const msgs: ServerMessage[] = [
      { id: 1, ok: true, result: { domains: [] } },
      { id: 2, ok: false, error: { code: 'NoSuchDomain', message: 'no domain named "x"', domain: 'x' } },
      { event: { kind: 'phase', domid: 3, name: 'web', from: null, to: 'creating' } },
      { event: { kind: 'phase', domid: 3, name: 'web', from: 'running', to: 'crashed', reason: 'crash' } },
      { event: { kind: 'removed', domid: 3, name: 'web' } },
      { event: { kind: 'xenstore-watch', path: '/local/domain/3/device', token: 't1' } },
      { console: { domid: 3, data: new Uint8Array([0x1b, 0x5b]) } },
    ];
    for (const m of msgs) expect(parseServerMessage(wire(m))).toEqual(m);
  });

  it('refuses malformed envelopes and events', () => {
    for (const bad of [
      { id: 1, result: {} },
      { id: 1, ok: 'yes', result: {} },
      { id: 1, ok: true, result: {}, error: {} },
      { event: { kind: 'phase', domid: 3, name: 'web', from: 'running', to: 'asleep' } },
      { event: { kind: 'phase', domid: 3, name: 'web', from: 'running', to: 'shutdown', reason: 'boredom' } },
      { event: { kind: 'removed', domid: '3', name: 'web' } },
      { event: { kind: 'reboot-storm' } },
      { event: { kind: 'removed', domid: 3, name: 'web' }, id: 1 },
    ]) {
      expect(() => parseServerMessage(wire(bad)), JSON.stringify(bad)).toThrow(ControlProtocolError);
    }
  });
});
