// The rings over memory that is not a SharedArrayBuffer: a /dev/shm file mapped twice (koffi
// views over two mmaps of the same pages, as Dom0 and a shim see a guest page). Front and back
// each get their own mapping, so everything passes through the shared pages themselves.
import { unlinkSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { SharedMemoryFile } from '../hypervisor/memory/shared-memory-file.ts';
import { BackRing } from './back-ring.ts';
import { blkifRequest, blkifResponse, BLKIF_OP, BLKIF_RING_ENTRY_SIZE, BLKIF_RSP } from './blkif.ts';
import { consoleBackend, consoleFrontend } from './console-interface.ts';
import { FrontRing } from './front-ring.ts';
import { XEN_PAGE_SIZE, initSharedRing, ringBytesForPageOrder } from './sring.ts';

const opened: SharedMemoryFile[] = [];
const paths: string[] = [];

function twoMappings(bytes: number): [Uint8Array, Uint8Array] {
  const path = `/dev/shm/xlts-ring-spec-${process.pid}-${paths.length}`;
  paths.push(path);
  const a = SharedMemoryFile.create(path, bytes);
  const b = SharedMemoryFile.open(path);
  opened.push(a, b);
  return [a.bytes(), b.bytes()];
}

afterEach(() => {
  for (const m of opened.splice(0)) m.close();
  for (const p of paths.splice(0)) unlinkSync(p);
});

describe('rings over an mmap-ed shared-memory file', () => {
  it('carries blkif requests and responses over a 4-page ring, wrapping several times', () => {
    const order = 2;
    const [guestView, dom0View] = twoMappings(ringBytesForPageOrder(order) + XEN_PAGE_SIZE);
    expect(guestView.buffer).not.toBe(dom0View.buffer);
    initSharedRing(guestView);
    const front = new FrontRing(guestView, BLKIF_RING_ENTRY_SIZE, { pages: 1 << order });
    const back = new BackRing(dom0View, BLKIF_RING_ENTRY_SIZE, { pages: 1 << order });
    expect(front.size).toBe(128);
    let next = 0;
    let done = 0;
    while (done < 1000) {
      while (!front.isFull() && next < 1000) {
        front.putRequest(blkifRequest.encode({ operation: BLKIF_OP.BLKIF_OP_READ, nr_segments: 1, handle: 51712, id: BigInt(next++), sector_number: 0n, seg: [{ gref: 8, first_sect: 0, last_sect: 7 }] }));
      }
      front.pushRequestsAndCheckNotify();
      while (back.unconsumedRequests() > 0) {
        const req = blkifRequest.decode(back.takeRequest());
        back.putResponse(blkifResponse.encode({ id: req.id, operation: req.operation, status: BLKIF_RSP.BLKIF_RSP_OKAY }));
      }
      back.pushResponsesAndCheckNotify();
      while (front.unconsumedResponses() > 0) {
        expect(blkifResponse.decode(front.takeResponse()).id).toBe(BigInt(done++));
      }
    }
    expect(front.finalCheckForResponses()).toBe(false);
    expect(back.finalCheckForRequests()).toBe(false);
  });

  it('carries console output between two mappings', () => {
    const [guestView, dom0View] = twoMappings(XEN_PAGE_SIZE);
    const guest = consoleFrontend(guestView);
    const dom0 = consoleBackend(dom0View);
    const text = 'Linux version 6.1.0 (debian-kernel@lists.debian.org)\n'.repeat(100);
    const bytes = new TextEncoder().encode(text);
    let sent = 0;
    let got = '';
    const dec = new TextDecoder();
    while (sent < bytes.byteLength) {
      sent += guest.output.write(bytes.subarray(sent));
      got += dec.decode(dom0.output.read(), { stream: true });
    }
    got += dec.decode(dom0.output.read());
    expect(got).toBe(text);
  });
});
