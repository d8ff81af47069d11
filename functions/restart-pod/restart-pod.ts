// restart-pod: removes one pod of an opted-in Deployment so its ReplicaSet replaces it — only that pod, only in the
// state it was judged in (uid and resourceVersion preconditions), never below the available replicas the Deployment
// requires (counted from a live pod list) and never past a PodDisruptionBudget (the Eviction API enforces it).
import type { ActionDeps, ActionRequest, Decision } from '../lib/action.ts';
import { checkRestartBudget, countAvailable, selectorString } from '../lib/guards.ts';
import type { PodEviction, V1Deployment, V1Pod } from '../lib/kube.ts';
import {
  CONFLICT_RETRIES,
  checkDeploymentLedger,
  claimAndRun,
  deploymentName,
  ledgerStop,
  newRecord,
  release,
  runClaimed,
  tooManyConflicts,
} from '../lib/remediate.ts';
import {
  deploymentRef,
  isPodReady,
  namespaceDecision,
  optInDecision,
  podRef,
  resolvePodOwner,
} from '../lib/targets.ts';

type Context = Pick<Decision, 'involved' | 'related' | 'deployment'>;

// The pod changed between the read and the write (a precondition failed): read again and decide again.
class PodChanged extends Error {}
// The API server refused the eviction: a PodDisruptionBudget allows no disruption now.
class EvictionBlocked extends Error {}

function budgetSkip(message: string, context: Context): Decision {
  return { outcome: 'skipped', reason: 'disruption-budget', message, ...context };
}

// Whether removing a ready pod keeps the Deployment's available replicas, counted from a live list of its pods:
// status.readyReplicas is written by a controller that may lag (or be down) and would let every pod go at once.
async function deploymentBudget(
  deps: ActionDeps,
  pod: V1Pod,
  deployment: V1Deployment,
  context: Context,
): Promise<Decision | undefined> {
  const namespace = pod.metadata?.namespace ?? '';
  const selector = selectorString(deployment.spec?.selector);
  if (!selector) {
    return budgetSkip(
      `cannot count the pods of Deployment ${deploymentName(deployment)}: its selector is empty or not supported`,
      context,
    );
  }
  const pods = await deps.kube.listPods(namespace, selector);
  const refusal = checkRestartBudget({
    replicas: deployment.spec?.replicas ?? 1,
    availableReplicas: countAvailable(pods, deployment.spec?.minReadySeconds ?? 0, deps.now()),
    maxUnavailable: deployment.spec?.strategy?.rollingUpdate?.maxUnavailable,
    strategy: deployment.spec?.strategy?.type,
    podReady: true,
  });
  return refusal && budgetSkip(refusal.message, context);
}

// A pod that is not ready costs no available replica: delete it, but only while it is still the pod we judged
// (had it turned ready meanwhile, its resourceVersion changed and the delete fails). A ready pod is evicted, so
// every PodDisruptionBudget that selects it is checked and spent by the API server in one step.
async function removePod(deps: ActionDeps, pod: V1Pod, dryRun: boolean): Promise<'removed' | 'gone'> {
  const namespace = pod.metadata?.namespace ?? '';
  const name = pod.metadata?.name ?? '';
  const preconditions = { uid: pod.metadata?.uid ?? '', resourceVersion: pod.metadata?.resourceVersion };
  const result: PodEviction = isPodReady(pod)
    ? await deps.kube.evictPod(namespace, name, preconditions, { dryRun })
    : await deps.kube.deletePod(namespace, name, preconditions, { dryRun });
  if (typeof result === 'object') throw new EvictionBlocked(result.blocked);
  if (result === 'changed') throw new PodChanged();
  return result;
}

export async function restartPod(request: ActionRequest, deps: ActionDeps): Promise<Decision> {
  const { namespace, name } = request.target;
  const refusedNamespace = namespaceDecision(request.target, deps.config.namespaces);
  if (refusedNamespace) return refusedNamespace;

  for (let attempt = 0; attempt < CONFLICT_RETRIES; attempt++) {
    const pod = await deps.kube.readPod(namespace, name);
    if (!pod)
      return { outcome: 'skipped', reason: 'pod-gone', message: `pod ${namespace}/${name} no longer exists` };
    const owner = await resolvePodOwner(deps.kube, pod);
    if (!owner.ok) return owner.decision;
    const { deployment } = owner;
    const involved = podRef(pod);
    const context = { involved, related: deploymentRef(deployment), deployment: deploymentName(deployment) };
    const refused = optInDecision(deployment, involved);
    if (refused) return refused;

    const verdict = checkDeploymentLedger(request, deps, deployment);
    const stop = ledgerStop(verdict, involved, deployment);
    if (stop) return { ...stop, related: context.related };

    const replacedBy = `ReplicaSet ${owner.replicaSet?.metadata?.name}`;
    const how = isPodReady(pod) ? 'evicted' : 'deleted';
    const effect = async (uid: string): Promise<Decision> => {
      const current = pod.metadata?.uid === uid && !pod.metadata?.deletionTimestamp ? pod : undefined;
      const removed = current ? await removePod(deps, current, false) : 'gone';
      return {
        outcome: 'applied',
        reason: removed === 'removed' ? 'restarted' : 'pod-gone',
        message:
          removed === 'removed'
            ? `${how} pod ${namespace}/${name} so ${replacedBy} replaces it`
            : `pod ${namespace}/${name} (uid ${uid}) was already gone`,
        ...context,
        detail: { pod: name, uid },
      };
    };

    try {
      if (verdict.kind === 'resume') {
        const uid = String(verdict.record.detail?.uid ?? '');
        // The claimed pod still runs: the budget may have changed since the claim, so check it again.
        if (pod.metadata?.uid === uid && !pod.metadata?.deletionTimestamp && isPodReady(pod)) {
          const budget = await deploymentBudget(deps, pod, deployment, context);
          if (budget) {
            await release(deps, deployment, verdict.record);
            return budget;
          }
        }
        return await runClaimed(deps, deployment, verdict.record, () => effect(uid));
      }

      if (pod.metadata?.deletionTimestamp) {
        return {
          outcome: 'skipped',
          reason: 'already-terminating',
          message: `pod ${namespace}/${name} is already terminating`,
          ...context,
        };
      }
      const budget = isPodReady(pod) ? await deploymentBudget(deps, pod, deployment, context) : undefined;
      if (budget) return budget;

      const uid = pod.metadata?.uid ?? '';
      if (request.dryRun || deps.config.dryRun) {
        await removePod(deps, pod, true);
        return {
          outcome: 'dry-run',
          reason: 'dry-run',
          message: `dry run: would ${how === 'evicted' ? 'evict' : 'delete'} pod ${namespace}/${name} so ${replacedBy} replaces it`,
          ...context,
          detail: { pod: name, uid },
        };
      }

      const decision = await claimAndRun(deps, deployment, newRecord(request, deps, { pod: name, uid }), () =>
        effect(uid),
      );
      if (decision) return decision;
    } catch (err) {
      if (err instanceof EvictionBlocked) {
        return budgetSkip(
          `the API server refused to evict pod ${namespace}/${name}: ${err.message}`,
          context,
        );
      }
      if (!(err instanceof PodChanged)) throw err;
      // The claim (if any) was released by runClaimed: the next round reads the pod again and resumes it.
    }
  }
  throw tooManyConflicts(`pod ${namespace}/${name} or its Deployment`);
}
