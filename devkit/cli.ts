// `npm run cluster`: a standalone local control plane (no workloads) until Ctrl-C.
import { MissingBinariesError, resolveBinaries } from './binaries.ts';
import { type ControlPlane, ControlPlaneStartError, startControlPlane } from './control-plane.ts';

const say = (line: string) => process.stdout.write(`[cluster] ${line}\n`);

let cluster: ControlPlane | undefined;
const starting = new AbortController();
let stopping = false;

async function shutdown(signal: NodeJS.Signals): Promise<void> {
  if (stopping) return;
  stopping = true;
  say(`${signal}: stopping the control plane`);
  starting.abort(new Error('interrupted'));
  await cluster?.stop();
  if (cluster) {
    say('stopped; nothing left behind');
    process.exit(0);
  }
}

// Our own handlers, registered before the control plane starts, so a Ctrl-C during start-up also cleans up.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, (s) => void shutdown(s));

try {
  resolveBinaries();
  say('starting etcd, kube-apiserver, kube-controller-manager and kube-scheduler on 127.0.0.1');
  cluster = await startControlPlane({ onProgress: say, signal: starting.signal });
} catch (err) {
  if (stopping) {
    say('stopped; nothing left behind');
    process.exit(0);
  }
  if (err instanceof MissingBinariesError || err instanceof ControlPlaneStartError) {
    process.stderr.write(`[cluster] ${err.message}\n`);
  } else {
    process.stderr.write(`[cluster] could not start the control plane: ${(err as Error).message}\n`);
  }
  process.exit(1);
}
process.stdout.write(
  [
    '',
    `API server:        ${cluster.server}`,
    `admin kubeconfig:  ${cluster.kubeconfigPath}`,
    `component logs:    ${cluster.dir}/*.log`,
    '',
    'In another shell:',
    `  export KUBECONFIG=${cluster.kubeconfigPath}`,
    `  ${cluster.binaries.kubectl} get namespaces`,
    '',
    'Ctrl-C stops it and removes its files.',
    '',
  ].join('\n'),
);
// Keep the process alive until a signal arrives.
setInterval(() => {}, 1 << 30);
