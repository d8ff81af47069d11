// The restart-pod function (faas-js-runtime module): a CloudEvent or {"namespace","pod"} in, a result out.
import { actionFunction } from '../lib/action-function.ts';
import { restartPod } from './restart-pod.ts';

export const { init, handle, authorize, readiness, liveness, shutdown } = actionFunction(
  'restart-pod',
  restartPod,
);
