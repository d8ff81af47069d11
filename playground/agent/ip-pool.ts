// Pod addresses: each agent claims one 127.0.N.0/24 (all of 127/8 routes to lo on Linux) and hands one per pod.
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const LOCK_DIR = join(tmpdir(), 'selfheal-pod-networks');

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Takes the lock file of one /24 for this process; a lock left by a dead process is taken over. */
function claim(octet: number): string | undefined {
  const file = join(LOCK_DIR, `127.0.${octet}.0.lock`);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return file;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = Number(readFileSync(file, 'utf8'));
      if (owner > 0 && alive(owner)) return undefined;
      rmSync(file, { force: true });
    }
  }
  return undefined;
}

export class PodAddressPool {
  readonly network: string;
  readonly #prefix: string;
  readonly #lockFile: string;
  readonly #used = new Set<number>();
  #cursor = 0;

  private constructor(octet: number, lockFile: string) {
    this.network = `127.0.${octet}.0/24`;
    this.#prefix = `127.0.${octet}.`;
    this.#lockFile = lockFile;
  }

  /** The first free 127.0.N.0/24 from N = 1, so the first agent on a machine hands out 127.0.1.1, 127.0.1.2, ... */
  static claim(): PodAddressPool {
    mkdirSync(LOCK_DIR, { recursive: true });
    for (let octet = 1; octet < 255; octet++) {
      const lock = claim(octet);
      if (lock) return new PodAddressPool(octet, lock);
    }
    throw new Error(`no free pod network under 127.0.0.0/16 (locks in ${LOCK_DIR})`);
  }

  /** Addresses go round the pool, so a just-released address (maybe still in an EndpointSlice) is reused last. */
  allocate(): string {
    for (let i = 0; i < 254; i++) {
      const host = ((this.#cursor + i) % 254) + 1;
      if (!this.#used.has(host)) {
        this.#used.add(host);
        this.#cursor = host % 254;
        return this.#prefix + host;
      }
    }
    throw new Error(`pod network ${this.network} is full (254 pods)`);
  }

  release(ip: string): void {
    if (ip.startsWith(this.#prefix)) this.#used.delete(Number(ip.slice(this.#prefix.length)));
  }

  close(): void {
    rmSync(this.#lockFile, { force: true });
  }
}
