// redeploy: a rolling restart exactly like `kubectl rollout restart` (the restartedAt annotation of the pod
// template), written in the same conditional patch as the record of it, so it happens once per event.
import { type Remediation, remediate } from '../lib/engine.ts';
import { describeWorkload, workloadMeta } from '../lib/workload.ts';
import { decideRedeploy, type RedeployPlan, restartPatch } from './decide.ts';

export { RESTARTED_AT_ANNOTATION, restartPatch, rfc3339Seconds } from './decide.ts';

export const redeployRemediation: Remediation<undefined, RedeployPlan> = {
  action: 'redeploy',
  involves: 'workload',
  observe: async () => undefined,
  decide: decideRedeploy,
  // The restart bumps the generation by one; the rollout is verified once the controller observed it.
  check: (_plan, snapshot) => ({ generation: (workloadMeta(snapshot.workload).generation ?? 0) + 1 }),
  commit: {
    kind: 'with-record',
    write: ({ restartedAt }, snapshot) => {
      const name = describeWorkload(snapshot.workload);
      return {
        kind: 'with-record',
        stage: 'restart',
        patch: restartPatch(restartedAt),
        dryRunMessage: `dry run: would restart the rollout of ${name}`,
        applied: (written) => ({
          reason: 'restarted',
          message: `restarted the rollout of ${name} (restartedAt ${restartedAt})`,
          detail: { generation: written.object.metadata?.generation },
        }),
      };
    },
  },
};

export const redeploy = remediate(redeployRemediation);
