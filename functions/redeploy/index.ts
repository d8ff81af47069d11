// The redeploy function (faas-js-runtime module): a CloudEvent or {"namespace","deployment"|"pod"} in, a result out.
import { type ActionFunctionOptions, actionFunction } from '../lib/action-function.ts';
import { redeploy } from './redeploy.ts';

export const redeployFunction = (options?: ActionFunctionOptions) =>
  actionFunction('redeploy', redeploy, options);

export const { init, handle, authorize, readiness, liveness, shutdown } = redeployFunction();
