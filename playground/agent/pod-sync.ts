// The node's pod loop: a watch of the pods bound to this node, and a periodic resync, start a worker for each new
// pod, hand every change to its worker, finish graceful deletions and stop what vanished without one.
import { type CoreV1Api, type KubeConfig, ListWatch, type V1Pod, Watch } from '@kubernetes/client-node';
import { PodWorker, type PodWorkerDeps } from './pod-worker.ts';
import type { NodePods } from './pods.ts';

export type PodSyncOptions = {
  kc: KubeConfig;
  core: CoreV1Api;
  nodeName: string;
  pods: NodePods;
  workerDeps: PodWorkerDeps;
  /** Every pod is reconciled again at this interval besides on every change. */
  resyncSeconds: number;
  /** How long a pod gone without a graceful deletion gets to stop. */
  stopGraceSeconds: number;
  log(message: string): void;
};

export type PodSync = {
  /** Deletes a pod object at once (grace 0, this uid only): a finished pod, or one no process runs for. */
  deletePod(pod: V1Pod): Promise<void>;
  /** Stops watching and resyncing; the workers keep running. */
  stop(): Promise<void>;
};

export async function startPodSync(options: PodSyncOptions): Promise<PodSync> {
  const { core, nodeName, pods, workerDeps, log } = options;
  let stopped = false;
  const finishDeletion = (w: PodWorker) => w.delete().finally(() => pods.delete(w));
  const deletePod = (pod: V1Pod) =>
    core
      .deleteNamespacedPod({
        name: pod.metadata?.name ?? '',
        namespace: pod.metadata?.namespace ?? '',
        body: { gracePeriodSeconds: 0, preconditions: { uid: pod.metadata?.uid } },
      })
      .then(
        () => {},
        () => {},
      );

  const sync = (pod: V1Pod) => {
    if (stopped) return;
    const uid = pod.metadata?.uid ?? '';
    const worker = pods.get(uid);
    if (worker) {
      worker.update(pod);
      if (pod.metadata?.deletionTimestamp) void finishDeletion(worker);
      return;
    }
    const phase = pod.status?.phase;
    if (phase === 'Succeeded' || phase === 'Failed' || pod.metadata?.deletionTimestamp) {
      // Nothing runs for it here: a finished pod, or one deleted while no agent was watching.
      if (pod.metadata?.deletionTimestamp) void deletePod(pod);
      return;
    }
    pods.set(new PodWorker(pod, workerDeps));
  };
  const forget = (pod: V1Pod) => {
    const w = pods.get(pod.metadata?.uid ?? '');
    if (!w || w.deleting) return;
    // Gone from the API without a graceful deletion (a forced delete): stop its processes now.
    void w.kill(options.stopGraceSeconds).finally(() => pods.delete(w));
  };

  const fieldSelector = `spec.nodeName=${nodeName}`;
  const informer = new ListWatch<V1Pod>(
    '/api/v1/pods',
    new Watch(options.kc),
    () => core.listPodForAllNamespaces({ fieldSelector }),
    false,
    undefined,
    fieldSelector,
  );
  informer.on('add', sync);
  informer.on('update', sync);
  informer.on('delete', forget);
  informer.on('error', (err) => {
    if (stopped) return;
    log(`pod watch: ${(err as Error)?.message ?? err}; reconnecting`);
    setTimeout(() => {
      if (!stopped) void informer.start();
    }, 1_000);
  });
  await informer.start();

  const resync = setInterval(() => {
    const current = new Set<string>();
    for (const pod of informer.list()) {
      current.add(pod.metadata?.uid ?? '');
      sync(pod);
    }
    for (const w of pods.workers()) if (!current.has(w.uid)) forget(w.pod);
  }, options.resyncSeconds * 1000);

  return {
    deletePod,
    stop: async () => {
      stopped = true;
      clearInterval(resync);
      await informer.stop();
    },
  };
}
