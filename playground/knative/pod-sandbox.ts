// A pod's network of its own on this host: a network namespace (unshare) holding the pod's address, joined to the host
// only through unix sockets, so programs that listen on fixed ports of every address (as Knative's do) never collide
// and never listen on the host's interfaces. The host side: what the pod may reach, and where its ports are reached.
import { execFileSync } from 'node:child_process';
import { mkdir, rm } from 'node:fs/promises';
import { createConnection, createServer, type Server } from 'node:net';
import { join } from 'node:path';
import type { ControlPlane } from '../../devkit/control-plane.ts';
import type { ManagedProcess } from '../../devkit/processes.ts';
import { listen, pipe } from './socket-pipe.ts';

const RELAY = new URL('./netns-relay.ts', import.meta.url).pathname;

export type SandboxSpec = {
  name: string;
  /** Folder for the sockets; short, since a unix socket path has at most 107 bytes. */
  dir: string;
  podIP: string;
  /** Host loopback ports the pod reaches at the same port on its own loopback (API server, proxy). */
  outbound: readonly number[];
  /** The pod's ports the host reaches (each gets a free port on 127.0.0.1). */
  inbound: readonly number[];
  command: string;
  args: readonly string[];
  env: Record<string, string>;
};

export type Sandbox = {
  process: ManagedProcess;
  /** Host port on 127.0.0.1 for one of the pod's inbound ports. */
  hostPort(port: number): number | undefined;
  stop(): Promise<void>;
};

/**
 * Says why pod sandboxes cannot run here, or undefined when they can: they need unshare (util-linux) allowed to make
 * user and network namespaces, ip (iproute2) and setpriv (util-linux).
 */
export function sandboxProblem(): string | undefined {
  try {
    execFileSync('unshare', ['--user', '--map-root-user', '--net', '--', 'ip', 'link', 'set', 'lo', 'up'], {
      stdio: 'pipe',
      timeout: 10_000,
    });
    execFileSync('setpriv', ['--help'], { stdio: 'pipe', timeout: 10_000 });
    return undefined;
  } catch (err) {
    const { stderr, message } = err as { stderr?: Buffer; message: string };
    return `pod sandboxes need unshare with user and network namespaces, ip and setpriv: ${stderr?.toString().trim() || message}`;
  }
}

/** Starts `spec.command` in its own network namespace; resolves once the process runs. */
export async function startSandbox(cluster: ControlPlane, spec: SandboxSpec): Promise<Sandbox> {
  await mkdir(spec.dir, { recursive: true });
  const servers: Server[] = [];
  const close = () =>
    Promise.all(
      servers.map(
        (s) =>
          new Promise<void>((resolve) => {
            s.close(() => resolve());
          }),
      ),
    );
  const hostPorts = new Map<number, number>();
  try {
    for (const port of spec.outbound) {
      const server = createServer((socket) => pipe(socket, createConnection({ host: '127.0.0.1', port })));
      servers.push(server);
      const path = join(spec.dir, `out-${port}.sock`);
      await rm(path, { force: true });
      await listen(server, path);
    }
    for (const port of spec.inbound) {
      const server = createServer((socket) =>
        pipe(socket, createConnection(join(spec.dir, `in-${port}.sock`))),
      );
      servers.push(server);
      await listen(server, 0);
      const address = server.address();
      if (address && typeof address === 'object') hostPorts.set(port, address.port);
    }
    const relaySpec = {
      dir: spec.dir,
      podIP: spec.podIP,
      outbound: spec.outbound,
      inbound: spec.inbound,
      command: spec.command,
      args: spec.args,
    };
    // --user --map-root-user: the pod may set up its own namespace without the host's root.
    const proc = await cluster.startProcess(
      spec.name,
      'unshare',
      ['--user', '--map-root-user', '--net', '--', process.execPath, RELAY, JSON.stringify(relaySpec)],
      { env: spec.env },
    );
    return {
      process: proc,
      hostPort: (port) => hostPorts.get(port),
      stop: async () => {
        await proc.stop();
        await close();
      },
    };
  } catch (err) {
    await close();
    throw err;
  }
}
