// Runs inside a pod's own network namespace: brings the pod's address and loopback up, lets the pod reach chosen host
// ports at the same loopback ports (through unix sockets the host serves), publishes the pod's ports as unix sockets
// for the host, then runs the container's command and ends with it.
//   node netns-relay.ts '<json: { dir, podIP, outbound, inbound, command, args }>'
import { execFileSync, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { join } from 'node:path';
import { z } from 'zod';
import { listen, pipe } from './socket-pipe.ts';

const specSchema = z.object({
  dir: z.string(),
  podIP: z.string(),
  outbound: z.array(z.number().int()),
  inbound: z.array(z.number().int()),
  command: z.string(),
  args: z.array(z.string()),
});

const spec = specSchema.parse(JSON.parse(process.argv[2] ?? '{}'));
execFileSync('ip', ['link', 'set', 'lo', 'up']);
execFileSync('ip', ['addr', 'add', `${spec.podIP}/32`, 'dev', 'lo']);
for (const port of spec.outbound) {
  const server = createServer((socket) => pipe(socket, createConnection(join(spec.dir, `out-${port}.sock`))));
  await listen(server, port);
}
for (const port of spec.inbound) {
  const server = createServer((socket) => pipe(socket, createConnection({ host: '127.0.0.1', port })));
  const path = join(spec.dir, `in-${port}.sock`);
  rmSync(path, { force: true });
  await listen(server, path);
}

// The command dies with this process even when it is killed outright.
const child = spawn('setpriv', ['--pdeathsig', 'SIGKILL', '--', spec.command, ...spec.args], {
  stdio: 'inherit',
});
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(signal, () => child.kill(signal));
child.on('error', (err) => {
  process.stderr.write(`cannot run ${spec.command}: ${err.message}\n`);
  process.exit(127);
});
child.on('exit', (code, signal) => process.exit(code ?? (signal === 'SIGKILL' ? 137 : 143)));
