// Starts a function's Node process with its V8 heap bounded by its container's memory limit:
//   node functions/lib/launch.ts <script> [args ...]
// computes the heap flags (lib/heap.ts) and replaces itself with `node <flags> <script> [args ...]` (execve: the
// same PID, so signals, probes and the kubelet's accounting see one process). Without a limit it runs the script
// unchanged. The images run `node launch.mjs index.mjs`, the playground `node functions/lib/launch.ts functions/run.ts`.
import { heapFlags } from './heap.ts';

const [script, ...args] = process.argv.slice(2);
if (!script) {
  console.error('usage: node launch.mjs <script> [args ...]');
  process.exit(2);
}
let flags: string[];
try {
  ({ flags } = heapFlags(process.env, process.execArgv, process.constrainedMemory()));
} catch (err) {
  console.error(`selfheal: ${(err as Error).message}`);
  process.exit(1);
}
if (!process.execve) {
  console.error('selfheal: this Node.js has no process.execve (Node 23.11 or later on Linux is needed)');
  process.exit(1);
}
process.execve(
  process.execPath,
  [process.execPath, ...process.execArgv, ...flags, script, ...args],
  process.env,
);
