// Joining two sockets both ways, and listening on a loopback port or a unix socket: the pod sandbox's plumbing.
import type { Server, Socket } from 'node:net';

/** Pipes `a` and `b` into each other; either side ending or failing closes both. */
export function pipe(a: Socket, b: Socket): void {
  a.pipe(b);
  b.pipe(a);
  const end = () => {
    a.destroy();
    b.destroy();
  };
  a.on('error', end);
  b.on('error', end);
  a.on('close', end);
  b.on('close', end);
}

/** Listens on 127.0.0.1:`target` (0: any free port) or on the unix socket at path `target`. */
export function listen(server: Server, target: number | string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    if (typeof target === 'number') server.listen(target, '127.0.0.1', resolve);
    else server.listen(target, resolve);
  });
}
