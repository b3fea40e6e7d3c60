// One end of the two-thread ring run, inside a worker thread: the ring and the event words are
// SharedArrayBuffers handed over by the runner. The end reports 'ready', waits for the runner's
// go (so thread start-up is not timed), runs to completion blocking in Atomics.wait when idle,
// and reports its counters.
import { parentPort, workerData } from 'node:worker_threads';
import { BackRing, FrontRing } from '../../ring-buffer/index.ts';
import { atomicsNotify, atomicsWaitChannel } from './event-channel.ts';
import type { EndMessage, ThreadEndData } from './messages.ts';
import { BENCH_ENTRY_SIZE, WorkloadBack, WorkloadFront, runEnd } from './workload.ts';

const port = parentPort;
if (port === null) throw new Error('thread-end.ts runs only as a worker thread');
const data = workerData as ThreadEndData;
const send = (m: EndMessage): void => port.postMessage(m);

port.once('message', () => {
  try {
    const mem = new Uint8Array(data.ring);
    const start = process.hrtime.bigint();
    let end: WorkloadFront | WorkloadBack;
    if (data.role === 'front') {
      end = new WorkloadFront(new FrontRing(mem, BENCH_ENTRY_SIZE, { startIndex: data.startIndex }), data.total, atomicsNotify(data.events, 'toBack'));
      runEnd(end, atomicsWaitChannel(data.events, 'toFront'));
    } else {
      end = new WorkloadBack(new BackRing(mem, BENCH_ENTRY_SIZE, { startIndex: data.startIndex }), data.total, atomicsNotify(data.events, 'toFront'));
      runEnd(end, atomicsWaitChannel(data.events, 'toBack'));
    }
    const elapsedNs = Number(process.hrtime.bigint() - start);
    send({ kind: 'done', report: { role: data.role, stats: end.stats(), elapsedNs } });
  } catch (err) {
    send({ kind: 'failed', error: err instanceof Error ? `${err.name}: ${err.message}` : String(err) });
  }
});
send({ kind: 'ready' });
