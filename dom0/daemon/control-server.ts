// The control socket of xltsd: length-prefixed msgpackr frames (dom0/control/framing.ts), one
// Response per Request, and Events and console bytes on connections that asked for them. Every
// request is checked (parseCommand) and every domain command is checked against the domain's
// phase before it runs; a client that breaks the framing loses its connection, nothing else.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import { isXenstoreError, type XenstoreClient } from '../../frontends/xenbus/index.ts';
import { defaultXenIdentity } from '../../hypervisor/xen/identity.ts';
import { assertCommandAllowed, isDomainCommand, parseCommand, type CommandResults, type ControlCommand, type HostInfo, type XsNode } from '../control/commands.ts';
import { InternalControlError, XenstoreOpError, toWireError } from '../control/errors.ts';
import { encodeFrame, FrameDecoder } from '../control/framing.ts';
import { parseClientMessage, type ControlEvent, type ServerMessage } from '../control/messages.ts';
import type { DomainRegistry, ManagedDomain } from './registry.ts';

export interface ControlServerOptions {
  readonly path: string;
  readonly registry: DomainRegistry;
  readonly xs: XenstoreClient;
  readonly xenstoreSocket: string;
  readonly kvm: HostInfo['kvm'];
  readonly log: (line: string) => void;
}

export interface ControlServer {
  close(): Promise<void>;
}

/** xenstore-ls of a big tree must not take the daemon's memory with it. */
const LS_MAX_NODES = 100_000;

export async function startControlServer(o: ControlServerOptions): Promise<ControlServer> {
  fs.rmSync(o.path, { force: true });
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    const conn = new ControlConnection(socket, o);
    socket.on('close', () => {
      sockets.delete(socket);
      conn.closed();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.path, () => resolve());
  });
  fs.chmodSync(o.path, 0o600);
  return {
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      fs.rmSync(o.path, { force: true });
    },
  };
}

class ControlConnection {
  private readonly decoder: FrameDecoder;
  private readonly cleanups: Array<() => void> = [];
  private consoleDomain: ManagedDomain | null = null;

  constructor(
    private readonly socket: net.Socket,
    private readonly o: ControlServerOptions,
  ) {
    this.decoder = new FrameDecoder((m) => this.message(m));
    socket.on('data', (chunk: Buffer) => {
      try {
        this.decoder.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
      } catch (err) {
        o.log(`control: dropping a client: ${err instanceof Error ? err.message : String(err)}`);
        socket.destroy();
      }
    });
    socket.on('error', () => undefined);
  }

  closed(): void {
    for (const c of this.cleanups.splice(0)) c();
  }

  private send(m: ServerMessage): void {
    if (!this.socket.destroyed) this.socket.write(encodeFrame(m));
  }

  private message(raw: unknown): void {
    const m = parseClientMessage(raw);
    if ('console' in m) {
      const d = this.consoleDomain;
      if (d !== null && d.domid === m.console.domid) d.console?.write(m.console.data);
      return;
    }
    const id = m.id;
    void (async () => {
      try {
        const command = parseCommand(m.command);
        const result = await this.run(command);
        this.send({ id, ok: true, result } as ServerMessage);
      } catch (err) {
        if (!(err instanceof Error && 'code' in err)) this.o.log(`control: ${err instanceof Error ? err.stack : String(err)}`);
        this.send({ id, ok: false, error: toWireError(err) });
      }
    })();
  }

  private async run(c: ControlCommand): Promise<CommandResults[ControlCommand['op']]> {
    const reg = this.o.registry;
    let d: ManagedDomain | null = null;
    if (isDomainCommand(c)) {
      d = reg.find(c.domain);
      assertCommandAllowed(c.op, d.domid, d.phase);
    }
    switch (c.op) {
      case 'create': {
        const created = await reg.create(c.config, c.paused);
        return { domid: created.domid, name: created.name };
      }
      case 'list':
        return { domains: reg.list() };
      case 'info':
        return this.info();
      case 'destroy':
        await reg.destroy(d!);
        return { domid: d!.domid };
      case 'shutdown':
      case 'reboot': {
        const reboot = c.op === 'reboot' || (c.op === 'shutdown' && c.reboot === true);
        if (d!.phase === 'running') await reg.requestShutdown(d!, reboot);
        const phase = c.wait ? await reg.waitForEnd(d!) : d!.phase;
        return { domid: d!.domid, phase };
      }
      case 'pause':
        await reg.pause(d!);
        return { domid: d!.domid };
      case 'unpause':
        await reg.unpause(d!);
        return { domid: d!.domid };
      case 'console-attach':
        return this.attachConsole(d!);
      case 'xenstore-read':
        return { value: await this.xs(c.path, () => this.o.xs.read(c.path)) };
      case 'xenstore-write':
        await this.xs(c.path, () => this.o.xs.write(c.path, c.value));
        return {};
      case 'xenstore-rm':
        await this.xs(c.path, () => this.o.xs.rm(c.path));
        return {};
      case 'xenstore-chmod':
        await this.xs(c.path, () => this.o.xs.setPerms(c.path, c.perms.map((p) => ({ domid: p.domid, access: ({ n: 'none', r: 'read', w: 'write', b: 'both' } as const)[p.perm] }))));
        return {};
      case 'xenstore-ls':
        return { nodes: await this.ls(c.path) };
      case 'xenstore-watch': {
        const token = `ctl-${c.token}-${this.o.xs.uniqueToken('w')}`;
        await this.xs(c.path, () =>
          this.o.xs.watch(c.path, token, (path) => this.send({ event: { kind: 'xenstore-watch', path, token: c.token } })),
        );
        this.cleanups.push(() => void this.o.xs.unwatch(c.path, token).catch(() => undefined));
        return {};
      }
      case 'block-attach':
        await reg.attachDisk(d!, c.disk);
        return { domid: d!.domid, vdev: c.disk.vdev, devid: c.disk.device_id };
      case 'block-detach': {
        const { spec, forced } = await reg.detachDisk(d!, c.device, c.force === true);
        return { domid: d!.domid, vdev: spec.vdev, devid: spec.device_id, forced };
      }
      case 'block-list':
        return { domid: d!.domid, devices: await reg.blockList(d!) };
      case 'subscribe-events': {
        const only = c.domain === undefined ? null : reg.find(c.domain).domid;
        const listener = (e: ControlEvent): void => {
          if (only === null || ('domid' in e && e.domid === only)) this.send({ event: e });
        };
        reg.on('event', listener);
        this.cleanups.push(() => reg.off('event', listener));
        return { domains: reg.list() };
      }
    }
  }

  private attachConsole(d: ManagedDomain): CommandResults['console-attach'] {
    const listener = (bytes: Uint8Array): void => {
      // An empty chunk is the domain going away.
      if (bytes.length === 0) this.socket.end();
      else this.send({ console: { domid: d.domid, data: bytes } });
    };
    this.consoleDomain = d;
    // The reply goes first (run() returns it), then what the guest printed so far, then live output.
    queueMicrotask(() => {
      const history = d.consoleHistory();
      if (history.length > 0) this.send({ console: { domid: d.domid, data: history } });
      d.consoleListeners.add(listener);
    });
    this.cleanups.push(() => d.consoleListeners.delete(listener));
    return { domid: d.domid, name: d.name };
  }

  private info(): HostInfo {
    const identity = defaultXenIdentity();
    return {
      xlts_version: '0.1.0',
      xen_version: `${identity.major}.${identity.minor}${identity.extraversion}`,
      hostname: os.hostname(),
      nr_cpus: os.cpus().length,
      total_memory_mib: Math.floor(os.totalmem() / (1024 * 1024)),
      nr_domains: this.o.registry.size,
      kvm: this.o.kvm,
      xenstore_socket: this.o.xenstoreSocket,
      control_socket: this.o.path,
    };
  }

  private async xs<T>(path: string, op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (err) {
      if (isXenstoreError(err)) throw new XenstoreOpError(err.code, path);
      throw err;
    }
  }

  private async ls(root: string): Promise<XsNode[]> {
    const out: XsNode[] = [];
    const walk = async (path: string): Promise<void> => {
      if (out.length >= LS_MAX_NODES) throw new InternalControlError(`more than ${LS_MAX_NODES} nodes under ${root}`);
      out.push({ path, value: await this.o.xs.read(path) });
      const base = path === '/' ? '' : path;
      for (const child of await this.o.xs.directory(path)) await walk(`${base}/${child}`);
    };
    await this.xs(root, () => walk(root));
    return out;
  }
}
