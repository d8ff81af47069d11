// restart-pod: deletes one pod of an opted-in Deployment so its ReplicaSet replaces it — only that pod
// (uid precondition), never below the ready replicas the Deployment or a PodDisruptionBudget requires.
import type { ActionDeps, ActionRequest, Decision } from '../lib/action.ts';
import { checkDisruptionsAllowed, checkRestartBudget, matchesSelector } from '../lib/guards.ts';
import type { V1Deployment, V1Pod } from '../lib/kube.ts';
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

async function budgetDecision(
  deps: ActionDeps,
  pod: V1Pod,
  deployment: V1Deployment,
): Promise<Decision | undefined> {
  const ready = isPodReady(pod);
  const rolling = deployment.spec?.strategy?.rollingUpdate?.maxUnavailable;
  const refusal =
    checkRestartBudget({
      replicas: deployment.spec?.replicas ?? 1,
      readyReplicas: deployment.status?.readyReplicas ?? 0,
      maxUnavailable: rolling,
      strategy: deployment.spec?.strategy?.type,
      podReady: ready,
    }) ??
    (ready
      ? checkDisruptionsAllowed(
          (await deps.kube.listDisruptionBudgets(pod.metadata?.namespace ?? ''))
            .filter((b) => matchesSelector(b.spec?.selector, pod.metadata?.labels ?? {}))
            .map((b) => ({ name: b.metadata?.name ?? '', disruptionsAllowed: b.status?.disruptionsAllowed })),
          ready,
        )
      : undefined);
  if (!refusal) return undefined;
  return {
    outcome: 'skipped',
    ...refusal,
    involved: podRef(pod),
    related: deploymentRef(deployment),
    deployment: deploymentName(deployment),
  };
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

    const effect = async (uid: string): Promise<Decision> => {
      const deleted = await deps.kube.deletePod(namespace, name, uid, { dryRun: false });
      return {
        outcome: 'applied',
        reason: deleted === 'deleted' ? 'restarted' : 'pod-gone',
        message:
          deleted === 'deleted'
            ? `deleted pod ${namespace}/${name} so ReplicaSet ${owner.replicaSet?.metadata?.name} replaces it`
            : `pod ${namespace}/${name} (uid ${uid}) was already gone`,
        ...context,
        detail: { pod: name, uid },
      };
    };

    if (verdict.kind === 'resume') {
      const uid = String(verdict.record.detail?.uid ?? '');
      // The claimed pod still runs: the budget may have changed since the claim, so check it again.
      if (pod.metadata?.uid === uid && !pod.metadata?.deletionTimestamp) {
        const budget = await budgetDecision(deps, pod, deployment);
        if (budget) {
          await release(deps, deployment, verdict.record);
          return budget;
        }
      }
      return runClaimed(deps, deployment, verdict.record, () => effect(uid));
    }

    if (pod.metadata?.deletionTimestamp) {
      return {
        outcome: 'skipped',
        reason: 'already-terminating',
        message: `pod ${namespace}/${name} is already terminating`,
        ...context,
      };
    }
    const budget = await budgetDecision(deps, pod, deployment);
    if (budget) return budget;

    const uid = pod.metadata?.uid ?? '';
    if (request.dryRun || deps.config.dryRun) {
      await deps.kube.deletePod(namespace, name, uid, { dryRun: true });
      return {
        outcome: 'dry-run',
        reason: 'dry-run',
        message: `dry run: would delete pod ${namespace}/${name} so ReplicaSet ${owner.replicaSet?.metadata?.name} replaces it`,
        ...context,
        detail: { pod: name, uid },
      };
    }

    const decision = await claimAndRun(deps, deployment, newRecord(request, deps, { pod: name, uid }), () =>
      effect(uid),
    );
    if (decision) return decision;
  }
  throw tooManyConflicts(`the Deployment of pod ${namespace}/${name}`);
}
