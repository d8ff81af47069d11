// The scale function (faas-js-runtime module): a CloudEvent or {"namespace","deployment"|"pod","step"?} in, a result out.
import { actionFunction } from '../lib/action-function.ts';
import { scale } from './scale.ts';

export const { init, handle, authorize, readiness, liveness, shutdown } = actionFunction('scale', scale);
