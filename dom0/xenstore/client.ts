// A small XenStore client over the unix socket, as dom0 tools would use it: requests are
// pipelined by req_id, watch events go to a callback. Used by tests and the benchmark; the
// daemon's own code talks to the engine directly.
import { connect, type Socket } from 'node:net';
import { XS } from '../../ring-buffer/xs-wire.ts';
import { XenstoreError, XSD_ERRORS, type XsdErrorName } from './errors.ts';
import { latin1, latin1Bytes } from './payload.ts';
import { encodeFrame, XsFrameDecoder, type XsFrame } from './wire.ts';

type Pending = { resolve: (f: XsFrame) => void; reject: (e: Error) => void };

/** The connection ended while requests were in flight. */
export class XenstoreConnectionLostError extends Error {
  override readonly name = 'XenstoreConnectionLostError';
}

export class XenstoreSocketClient {
  private readonly pending = new Map<number, Pending>();
  private readonly decoder = new XsFrameDecoder((f) => this.onFrame(f));
  private nextReqId = 1;
  private ended: Error | null = null;
  /** Called for each XS_WATCH_EVENT: (path, token). */
  onWatchEvent: (path: string, token: string) => void = () => {};

  private constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      try {
        this.decoder.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
      } catch (e) {
        this.fail(e instanceof Error ? e : new Error(String(e)));
      }
    });
    socket.on('close', () => this.fail(new XenstoreConnectionLostError('xenstore socket closed')));
    socket.on('error', (e) => this.fail(e));
  }

  static connect(path: string): Promise<XenstoreSocketClient> {
    return new Promise((resolve, reject) => {
      const s = connect(path);
      s.once('connect', () => {
        s.off('error', reject);
        resolve(new XenstoreSocketClient(s));
      });
      s.once('error', reject);
    });
  }

  /** Sends one request; resolves with the reply frame (XS_ERROR frames included). */
  request(type: number, payload: Uint8Array | string, txId = 0): Promise<XsFrame> {
    if (this.ended) return Promise.reject(this.ended);
    const reqId = this.nextReqId;
    this.nextReqId = (this.nextReqId + 1) >>> 0 || 1;
    const body = typeof payload === 'string' ? latin1Bytes(payload) : payload;
    return new Promise((resolve, reject) => {
      this.pending.set(reqId, { resolve, reject });
      this.socket.write(encodeFrame(type, reqId, txId, body));
    });
  }

  /** request() that turns XS_ERROR into a XenstoreError and returns the payload as text. */
  async call(type: number, payload: string, txId = 0): Promise<string> {
    const f = await this.request(type, payload, txId);
    const text = latin1(f.payload);
    if (f.type === XS.XS_ERROR) {
      const name = text.replace(/\0$/, '');
      const known = (XSD_ERRORS as readonly string[]).includes(name) ? (name as XsdErrorName) : 'EIO';
      throw new XenstoreError(known, `${type} ${payload.split('\0')[0]}`);
    }
    return text;
  }

  read(path: string, txId = 0): Promise<string> {
    return this.call(XS.XS_READ, `${path}\0`, txId);
  }

  async write(path: string, value: string, txId = 0): Promise<void> {
    await this.call(XS.XS_WRITE, `${path}\0${value}`, txId);
  }

  async directory(path: string, txId = 0): Promise<string[]> {
    const text = await this.call(XS.XS_DIRECTORY, `${path}\0`, txId);
    return text === '' ? [] : text.replace(/\0$/, '').split('\0');
  }

  async rm(path: string, txId = 0): Promise<void> {
    await this.call(XS.XS_RM, `${path}\0`, txId);
  }

  async watch(path: string, token: string): Promise<void> {
    await this.call(XS.XS_WATCH, `${path}\0${token}\0`);
  }

  async transactionStart(): Promise<number> {
    return Number((await this.call(XS.XS_TRANSACTION_START, '\0')).replace(/\0$/, ''));
  }

  async transactionEnd(txId: number, commit: boolean): Promise<void> {
    await this.call(XS.XS_TRANSACTION_END, commit ? 'T\0' : 'F\0', txId);
  }

  close(): void {
    this.socket.destroy();
  }

  private onFrame(f: XsFrame): void {
    if (f.type === XS.XS_WATCH_EVENT) {
      const [path = '', token = ''] = latin1(f.payload).split('\0');
      this.onWatchEvent(path, token);
      return;
    }
    const p = this.pending.get(f.reqId);
    if (!p) return;
    this.pending.delete(f.reqId);
    p.resolve(f);
  }

  private fail(e: Error): void {
    if (this.ended) return;
    this.ended = e;
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
    this.socket.destroy();
  }
}
