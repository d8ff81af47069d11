// The V8 heap a function may use, derived from its container's memory limit (the downward API's limits.memory in
// SELFHEAL_MEMORY_LIMIT, else the cgroup limit Node reads, process.constrainedMemory()). Left alone, Node sizes its
// heap from the machine, or in a 256 MiB cgroup to a 259 MiB heap: garbage can outgrow the pod's limit before V8
// collects it, and the kernel kills the pod in the middle of an action. Pure, and free of imports.

const MiB = 1024 * 1024;

export const MEMORY_LIMIT_ENV = 'SELFHEAL_MEMORY_LIMIT';
// Share of the limit for V8's heap (old and young generations). The rest is for what lives outside it: code,
// Node and libuv, TLS and sockets, the Kubernetes client's buffers.
export const HEAP_SHARE = 0.65;
const MIN_OLD_SPACE_MIB = 32;
const MAX_SEMI_SPACE_MIB = 16;

// process.constrainedMemory() is 2^64 or a page-rounded 2^63 without a cgroup limit: anything this large is none.
const UNLIMITED = 2 ** 50;

const UNITS: Record<string, number> = {
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  Ki: 1024,
  Mi: MiB,
  Gi: 1024 * MiB,
  Ti: 1024 * 1024 * MiB,
};

// A memory quantity as Kubernetes writes it ("268435456" from the downward API, or "256Mi") in bytes.
export function parseMemory(text: string): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([kMGT]i?|)\s*$/.exec(text);
  const unit = match ? UNITS[match[2] ?? ''] : undefined;
  if (!match || unit === undefined) return undefined;
  const bytes = Math.floor(Number(match[1]) * unit);
  return Number.isFinite(bytes) ? bytes : undefined;
}

export type MemoryLimit = { bytes: number; from: string };

// The container's memory limit, or undefined when it has none (or runs outside a container). `constrained` is
// what process.constrainedMemory() says (cgroup v1 or v2, found through /proc/self/cgroup).
export function memoryLimit(
  env: Record<string, string | undefined>,
  constrained: number,
): MemoryLimit | undefined {
  const given = env[MEMORY_LIMIT_ENV]?.trim();
  if (given) {
    const bytes = parseMemory(given);
    if (bytes === undefined) {
      throw new RangeError(`${MEMORY_LIMIT_ENV}=${given} is not a memory quantity (e.g. 268435456 or 256Mi)`);
    }
    // A container without a memory limit: the playground's agent says 0 (a kubelet gives the node's memory).
    if (bytes > 0) return { bytes, from: MEMORY_LIMIT_ENV };
  }
  return constrained > 0 && constrained < UNLIMITED ? { bytes: constrained, from: 'cgroup' } : undefined;
}

export type HeapSizes = { oldSpaceMiB: number; semiSpaceMiB: number };

// Old and young generations within HEAP_SHARE of the limit. The young generation is three semi-spaces (two plus
// the new large-object space); a semi-space of limit/32, a power of two up to 16 MiB, keeps scavenges cheap
// without letting short-lived garbage take a fifth of a small pod.
export function heapSizes(limitBytes: number): HeapSizes {
  const limitMiB = limitBytes / MiB;
  const semiSpaceMiB = Math.min(MAX_SEMI_SPACE_MIB, 2 ** Math.max(0, Math.floor(Math.log2(limitMiB / 32))));
  const oldSpaceMiB = Math.max(MIN_OLD_SPACE_MIB, Math.floor(limitMiB * HEAP_SHARE - 3 * semiSpaceMiB));
  return { oldSpaceMiB, semiSpaceMiB };
}

const HEAP_FLAG = /--max[-_]old[-_]space[-_]size/;

// The flags to start the function's Node with: none when it has no limit, or when its operator already chose
// (a heap flag on the command line or in NODE_OPTIONS wins).
export function heapFlags(
  env: Record<string, string | undefined>,
  execArgv: readonly string[],
  constrained: number,
): { flags: string[]; limit?: MemoryLimit; sizes?: HeapSizes } {
  if (execArgv.some((arg) => HEAP_FLAG.test(arg)) || HEAP_FLAG.test(env.NODE_OPTIONS ?? ''))
    return { flags: [] };
  const limit = memoryLimit(env, constrained);
  if (!limit) return { flags: [] };
  const sizes = heapSizes(limit.bytes);
  return {
    flags: [`--max-old-space-size=${sizes.oldSpaceMiB}`, `--max-semi-space-size=${sizes.semiSpaceMiB}`],
    limit,
    sizes,
  };
}
