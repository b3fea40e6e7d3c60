// One end of the two-process ring run, as a child process: the ring is a /dev/shm file both
// children map (SharedMemoryFile), and the two event channels are eventfds the runner passes as
// inherited descriptors 3 (to the back end) and 4 (to the front end). Protocol on stdio, one JSON
// EndMessage per line: the child prints 'ready', waits for any line on stdin (the go), runs
// blocking in read(2) on its eventfd when idle, prints 'done' with its counters, and exits.
//
// argv: <front|back> <shared memory path> <requests> <start index>
import * as readline from 'node:readline';
import { BackRing, FrontRing } from '../../ring-buffer/index.ts';
import { SharedMemoryFile } from '../../hypervisor/memory/shared-memory-file.ts';
import { eventFdNotify, eventFdWaitChannel } from './event-channel.ts';
import { type EndMessage, FD_TO_BACK, FD_TO_FRONT } from './messages.ts';
import { BENCH_ENTRY_SIZE, WorkloadBack, WorkloadFront, runEnd } from './workload.ts';

const send = (m: EndMessage): void => {
  process.stdout.write(`${JSON.stringify(m)}\n`);
};

function main(): void {
  const [role, path, totalArg, startArg] = process.argv.slice(2);
  const total = Number(totalArg);
  const startIndex = Number(startArg);
  if ((role !== 'front' && role !== 'back') || path === undefined || !Number.isSafeInteger(total) || total <= 0 || !Number.isInteger(startIndex)) {
    throw new Error('usage: process-end.ts <front|back> <shared memory path> <requests> <start index>');
  }
  const shm = SharedMemoryFile.open(path);
  const rl = readline.createInterface({ input: process.stdin });
  rl.once('line', () => {
    rl.close();
    try {
      const mem = shm.bytes();
      const start = process.hrtime.bigint();
      let end: WorkloadFront | WorkloadBack;
      if (role === 'front') {
        end = new WorkloadFront(new FrontRing(mem, BENCH_ENTRY_SIZE, { startIndex }), total, eventFdNotify(FD_TO_BACK));
        runEnd(end, eventFdWaitChannel(FD_TO_FRONT));
      } else {
        end = new WorkloadBack(new BackRing(mem, BENCH_ENTRY_SIZE, { startIndex }), total, eventFdNotify(FD_TO_FRONT));
        runEnd(end, eventFdWaitChannel(FD_TO_BACK));
      }
      const elapsedNs = Number(process.hrtime.bigint() - start);
      send({ kind: 'done', report: { role, stats: end.stats(), elapsedNs } });
    } catch (err) {
      send({ kind: 'failed', error: err instanceof Error ? `${err.name}: ${err.message}` : String(err) });
      process.exitCode = 1;
    } finally {
      shm.close();
    }
  });
  send({ kind: 'ready' });
}

main();
