// Manual entry point: `npx tsx dom0/xenstore/serve.ts --socket <path>` runs a store on a socket
// until SIGINT/SIGTERM; point Debian's xenstore-* tools at it with XENSTORED_PATH=<path>.
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { XenstoreEngine } from './engine.ts';
import { startXenstoreSocket } from './socket-server.ts';

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { socket: { type: 'string' } } });
  if (!values.socket) {
    process.stderr.write('usage: serve.ts --socket <path>\n');
    process.exitCode = 2;
    return;
  }
  const log = (line: string): void => void process.stderr.write(`${line}\n`);
  const engine = new XenstoreEngine({ log });
  const server = await startXenstoreSocket({ engine, path: values.socket, log });
  log(`xenstore listening on ${server.path} (XENSTORED_PATH=${server.path})`);
  const stop = (): void => void server.close().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  void main(process.argv.slice(2));
}
