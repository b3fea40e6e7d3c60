// The xenstore directories of one virtual block device, as libxl writes them before the guest
// looks (the frontend's under the guest's home, owned by the guest and readable by Dom0; the
// backend's under Dom0's, owned by Dom0 and readable by the guest). The backend driver then
// drives the handshake through the `state` nodes.
import type { XenstoreClient, XsPermission } from '../../frontends/xenbus/index.ts';
import type { DiskSpec } from '../domain-config.ts';

export const vbdFrontendPath = (domid: number, devid: number): string => `/local/domain/${domid}/device/vbd/${devid}`;
export const vbdBackendPath = (domid: number, devid: number): string => `/local/domain/0/backend/vbd/${domid}/${devid}`;

/** XenbusStateInitialising: where both ends start. */
const XENBUS_STATE_INITIALISING = '1';

export async function writeVbdXenstore(xs: XenstoreClient, domid: number, disk: DiskSpec): Promise<void> {
  const devid = disk.device_id;
  const fe = vbdFrontendPath(domid, devid);
  const be = vbdBackendPath(domid, devid);
  const fePerms: XsPermission[] = [
    { domid, access: 'none' },
    { domid: 0, access: 'read' },
  ];
  const bePerms: XsPermission[] = [
    { domid: 0, access: 'none' },
    { domid, access: 'read' },
  ];
  await xs.transaction(async (t) => {
    await t.mkdir(be);
    await t.setPerms(be, bePerms);
    for (const [k, v] of [
      ['frontend', fe],
      ['frontend-id', String(domid)],
      ['online', '1'],
      ['state', XENBUS_STATE_INITIALISING],
      ['params', disk.target],
      ['type', 'xlts'],
      ['mode', disk.access === 'ro' ? 'r' : 'w'],
      ['device-type', disk.devtype],
      ['removable', '0'],
      ['bootable', '1'],
      ['dev', disk.vdev],
      ['discard-enable', disk.discard ? '1' : '0'],
    ] as const) {
      await t.write(`${be}/${k}`, v);
    }
    await t.mkdir(fe);
    await t.setPerms(fe, fePerms);
    for (const [k, v] of [
      ['backend', be],
      ['backend-id', '0'],
      ['state', XENBUS_STATE_INITIALISING],
      ['virtual-device', String(devid)],
      ['device-type', disk.devtype],
      ['trusted', disk.trusted ? '1' : '0'],
    ] as const) {
      await t.write(`${fe}/${k}`, v);
    }
  });
}

export async function removeVbdXenstore(xs: XenstoreClient, domid: number, devid: number): Promise<void> {
  await xs.rm(vbdFrontendPath(domid, devid)).catch(() => undefined);
  await xs.rm(vbdBackendPath(domid, devid)).catch(() => undefined);
  // The domain's last disk takes backend/vbd/<domid> with it, as libxl leaves no empty directory.
  const parent = `/local/domain/0/backend/vbd/${domid}`;
  const left = await xs.directory(parent).catch(() => null);
  if (left !== null && left.length === 0) await xs.rm(parent).catch(() => undefined);
}
