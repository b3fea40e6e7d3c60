import { describe, expect, it } from 'vitest';
import { XS } from '../../ring-buffer/xs-wire.ts';
import { XsConnection } from './connection.ts';
import { XenstoreEngine } from './engine.ts';
import { XenstoreClosedError } from './errors.ts';
import { latin1, latin1Bytes } from './payload.ts';
import { XsFrameDecoder, type XsFrame } from './wire.ts';

function wire(engine: XenstoreEngine, domid = 0) {
  const out: Array<{ frame: XsFrame; reply: boolean }> = [];
  let reply = false;
  const decoder = new XsFrameDecoder((frame) => out.push({ frame, reply }));
  const conn = new XsConnection(engine, { domid, privileged: domid === 0 }, (bytes, isReply) => {
    reply = isReply;
    decoder.push(bytes);
  });
  let reqId = 100;
  const send = (type: number, payload: string, txId = 0) => conn.handleFrame({ type, reqId: reqId++, txId, payload: latin1Bytes(payload) });
  return { conn, out, send };
}

describe('XsConnection', () => {
  it('echoes req_id and tx_id, and sends its own watch events after the reply', () => {
    const engine = new XenstoreEngine();
    const { out, send } = wire(engine);
    send(XS.XS_WATCH, '/w\0tok\0');
    expect(out.map((o) => [o.frame.type, o.frame.reqId, o.reply, latin1(o.frame.payload)])).toEqual([
      [XS.XS_WATCH, 100, true, 'OK\0'],
      [XS.XS_WATCH_EVENT, 0, false, '/w\0tok\0'],
    ]);
    out.length = 0;
    send(XS.XS_WRITE, '/w/x\0v');
    expect(out.map((o) => o.frame.type)).toEqual([XS.XS_WRITE, XS.XS_WATCH_EVENT]);
  });

  it('errors come back as XS_ERROR with the request ids', () => {
    const engine = new XenstoreEngine();
    const { out, send } = wire(engine);
    send(XS.XS_READ, '/missing\0', 0);
    expect(out[0]!.frame.type).toBe(XS.XS_ERROR);
    expect(out[0]!.frame.reqId).toBe(100);
    expect(latin1(out[0]!.frame.payload)).toBe('ENOENT\0');
  });

  it('a reply longer than the payload limit becomes E2BIG', () => {
    const engine = new XenstoreEngine();
    const { out, send } = wire(engine);
    send(XS.XS_WRITE, `/big\0${'x'.repeat(4000)}`);
    send(XS.XS_READ, '/big\0');
    expect(latin1(out[1]!.frame.payload)).toHaveLength(4000);
    // CONTROL help is short; build a long reply via a long directory instead.
    for (let i = 0; i < 200; i++) send(XS.XS_MKDIR, `/d/${'n'.repeat(20)}${i}\0`);
    out.length = 0;
    send(XS.XS_DIRECTORY, '/d\0');
    expect(latin1(out[0]!.frame.payload)).toBe('E2BIG\0');
  });

  it('counts outstanding requests until the transport says the reply was delivered', () => {
    const engine = new XenstoreEngine({ quotas: { outstandingRequests: 2 } });
    const { conn, send } = wire(engine, 5);
    expect(conn.mayTakeRequest()).toBe(true);
    send(XS.XS_GET_DOMAIN_PATH, '5\0');
    expect(conn.outstandingRequests).toBe(1);
    expect(conn.mayTakeRequest()).toBe(true); // limit-1 outstanding: one more may come
    send(XS.XS_GET_DOMAIN_PATH, '5\0');
    expect(conn.mayTakeRequest()).toBe(false); // at the limit
    conn.replyDelivered();
    expect(conn.mayTakeRequest()).toBe(true);
  });

  it('closing drops its watches and transactions from the engine and refuses more frames', () => {
    const engine = new XenstoreEngine();
    const { conn, out, send } = wire(engine);
    const other = wire(engine);
    send(XS.XS_WATCH, '/w\0tok\0');
    send(XS.XS_TRANSACTION_START, '\0');
    expect(conn.transactions.size).toBe(1);
    conn.close();
    expect(conn.watches.size).toBe(0);
    expect(conn.transactions.size).toBe(0);
    out.length = 0;
    other.send(XS.XS_WRITE, '/w\0v');
    expect(out).toEqual([]);
    expect(() => send(XS.XS_READ, '/\0')).toThrow(XenstoreClosedError);
  });
});
