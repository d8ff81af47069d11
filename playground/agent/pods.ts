// The pods this node runs, by uid: their workers, found by name, and killed at once when the agent's process exits.
import type { V1Pod } from '@kubernetes/client-node';
import { killGroup } from './container.ts';
import type { PodWorker } from './pod-worker.ts';

export class NodePods {
  readonly #workers = new Map<string, PodWorker>();

  get(uid: string): PodWorker | undefined {
    return this.#workers.get(uid);
  }

  set(worker: PodWorker): void {
    this.#workers.set(worker.uid, worker);
  }

  /** Forgets `worker`, unless another worker has taken its uid since. */
  delete(worker: PodWorker): void {
    if (this.#workers.get(worker.uid) === worker) this.#workers.delete(worker.uid);
  }

  clear(): void {
    this.#workers.clear();
  }

  workers(): PodWorker[] {
    return [...this.#workers.values()];
  }

  pods(): V1Pod[] {
    return this.workers().map((w) => w.pod);
  }

  /** The worker of a pod by name: the one not being deleted if there are two (a StatefulSet's pod coming back). */
  find(namespace: string, name: string): PodWorker | undefined {
    const named = this.workers().filter(
      (w) => w.pod.metadata?.namespace === namespace && w.pod.metadata?.name === name,
    );
    return named.find((w) => !w.deleting) ?? named[0];
  }

  /** SIGKILL to every running container, synchronously: for the agent's process exiting without stop(). */
  killNow(): void {
    for (const w of this.#workers.values())
      for (const c of w.containers) if (c.running) killGroup(c.running.pid, 'SIGKILL');
  }
}
