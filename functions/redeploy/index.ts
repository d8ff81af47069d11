// The redeploy function (faas-js-runtime module): a CloudEvent or {"namespace","deployment"|"pod"} in, a result out.
import { actionFunction } from '../lib/action-function.ts';
import { redeploy } from './redeploy.ts';

export const { init, handle, authorize, readiness, liveness, shutdown } = actionFunction(
  'redeploy',
  redeploy,
);
