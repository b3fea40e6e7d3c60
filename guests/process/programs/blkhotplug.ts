// The `blkhotplug` process guest: a guest that takes disks as they come and lets them go when
// asked, as Linux's xen-blkfront does under xl block-attach/block-detach. It watches device/vbd;
// each new disk is connected with our blkfront, put through blkbench's verifying workload, and
// then given a marker sector (sector 0: "XLTS-HOTPLUG vbd=<devid> domid=<domid>") followed by a
// flush, so the host can check that acknowledged, flushed writes are in the image. When the
// backend says Closing (an unplug), the disk is closed. Progress goes to data/hotplug/<devid>
// (JSON: phase connected|verified|closed, checks, errors) and to the console. A read-only disk
// is only read (sector 0's text is reported) and one write is tried, which must be refused. Runs until
// control/shutdown.
import { GrantTableWriter } from '../../../frontends/grants/index.ts';
import { BLKIF_SECTOR_SIZE, Blkfront } from '../../../frontends/blkfront/index.ts';
import { XenbusState, parseXenbusState } from '../../../ring-buffer/xenbus.ts';
import { Rng, kernelChannels, verify, type DiskReport } from './blkbench.ts';
import { obeyControlShutdown } from './control-shutdown.ts';
import type { ProgramEnv } from './program.ts';

export const HOTPLUG_MARKER = 'XLTS-HOTPLUG';
/** VDISK_READONLY in the backend's `info` (io/blkif.h). */
const VDISK_READONLY = 0x4;

interface Disk {
  dev: Blkfront | null;
  closing: boolean;
}

export async function blkhotplug(env: ProgramEnv): Promise<void> {
  const xs = env.xenstore;
  const log = (s: string): void => env.console(`blkhotplug: ${s}\n`);
  const grants = new GrantTableWriter(env.grantFrames);
  const evtchn = kernelChannels(env);
  const disks = new Map<string, Disk>();
  const report = (vbd: string, status: Record<string, unknown>): Promise<void> =>
    xs.write(`data/hotplug/${vbd}`, JSON.stringify(status)).catch((e: unknown) => log(`writing data/hotplug/${vbd}: ${String(e)}`));

  const close = async (vbd: string, disk: Disk): Promise<void> => {
    if (disk.closing) return;
    disk.closing = true;
    await disk.dev?.close();
    disk.dev = null;
    log(`vbd ${vbd}: closed`);
    await report(vbd, { phase: 'closed' });
  };

  const take = async (vbd: string): Promise<void> => {
    const disk: Disk = { dev: null, closing: false };
    disks.set(vbd, disk);
    const frontendDir = `device/vbd/${vbd}`;
    const dev = await Blkfront.connect({ xenstore: xs, evtchn, grants, pages: env, frontendDir, maxQueues: 2 });
    disk.dev = dev;
    const r: DiskReport = { vbd, sectors: dev.info.sectors, checks: 0, errors: [], features: {} };
    log(`vbd ${vbd}: connected, ${dev.info.sectors} sectors`);
    await report(vbd, { phase: 'connected', sectors: dev.info.sectors });
    // An unplug: the backend goes Closing, and the disk is let go.
    const backend = await xs.read(`${frontendDir}/backend`);
    await xs.watch(`${backend}/state`, xs.uniqueToken('be'), () => {
      void xs.read(`${backend}/state`).then(
        (raw) => {
          const st = parseXenbusState(raw);
          if (st.ok && st.value >= XenbusState.XenbusStateClosing) void close(vbd, disk);
        },
        () => void close(vbd, disk),
      );
    });
    if ((dev.info.info & VDISK_READONLY) !== 0) {
      // A read-only disk: read what is there, and check that a write is refused.
      const head = new TextDecoder().decode((await dev.read(0, 1)).subarray(0, 64)).replace(/\0.*$/s, '');
      const refused = await dev.write(0, new Uint8Array(BLKIF_SECTOR_SIZE).fill(0xee)).then(
        () => false,
        () => true,
      );
      log(`vbd ${vbd}: read-only; sector 0 starts ${JSON.stringify(head)}; a write was ${refused ? 'refused' : 'ACCEPTED'}`);
      await report(vbd, { phase: 'verified', readOnly: true, head, writeRefused: refused });
      return;
    }
    const checks = await verify(dev, new Rng(0x5eed ^ Number(vbd)), r, (s) => env.console(s));
    const mark = new Uint8Array(BLKIF_SECTOR_SIZE);
    mark.set(new TextEncoder().encode(`${HOTPLUG_MARKER} vbd=${vbd} domid=${env.domid}\n`));
    await dev.write(0, mark);
    await dev.flush();
    log(`vbd ${vbd}: ${checks} checks, ${r.errors.length} errors; marker written and flushed`);
    await report(vbd, { phase: 'verified', checks, errors: r.errors.slice(0, 4) });
  };

  const scan = async (): Promise<void> => {
    const now = await xs.directory('device/vbd').catch(() => [] as string[]);
    for (const vbd of now) {
      if (disks.has(vbd)) continue;
      void take(vbd).catch(async (e: unknown) => {
        log(`vbd ${vbd}: ${e instanceof Error ? e.message : String(e)}`);
        await report(vbd, { phase: 'failed', error: String(e) });
      });
    }
    // A directory the toolstack removed (a forced detach) is forgotten, so its devid can return.
    for (const vbd of [...disks.keys()]) if (!now.includes(vbd) && disks.get(vbd)!.closing) disks.delete(vbd);
  };

  const shutdown = await obeyControlShutdown(env, 'blkhotplug', async () => {
    for (const [vbd, disk] of disks) await close(vbd, disk);
  });
  await xs.watch('device/vbd', xs.uniqueToken('vbd'), () => void scan());
  log(`domain ${env.domid} is up; watching device/vbd`);
  await shutdown.done;
}
