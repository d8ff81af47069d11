// prometheus-operator for the tests: its CRDs applied once per test process, the operator stopped when the test ends.
import type { ExecutionContext } from 'ava';
import { testCluster } from '../../../test/helpers/cluster.ts';
import { installOperatorCrds as install, type RunningOperator, startOperator as start } from '../cluster.ts';

export {
  type Condition,
  conditionsOf,
  generatedAlertmanagerConfig,
  generatedPrometheusConfig,
  generatedRuleFiles,
  generatedTlsAssets,
  MONITORING_GROUP,
} from '../cluster.ts';

let installed: Promise<void> | undefined;

/** The operator's CRDs in the test cluster (once per process: they are cluster-wide). */
export function installOperatorCrds(): Promise<void> {
  installed ??= testCluster().then(install);
  return installed;
}

/** The operator watching only `namespaces`, with its log at hand; stopped when the test ends. */
export async function startOperator(
  t: ExecutionContext,
  namespaces: readonly string[],
): Promise<RunningOperator & { logTail(lines?: number): string }> {
  await installOperatorCrds();
  const operator = await start(await testCluster(), namespaces);
  t.teardown(() => operator.process.stop());
  return { ...operator, logTail: (lines) => operator.process.logTail(lines) };
}
