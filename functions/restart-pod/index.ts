// The restart-pod function (faas-js-runtime module): a CloudEvent or {"namespace","pod"} in, a result out.
import { type ActionFunctionOptions, actionFunction } from '../lib/action-function.ts';
import { restartPod } from './restart-pod.ts';

export const restartPodFunction = (options?: ActionFunctionOptions) =>
  actionFunction('restart-pod', restartPod, options);

export const { init, handle, authorize, readiness, liveness, shutdown } = restartPodFunction();
