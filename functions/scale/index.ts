// The scale function (faas-js-runtime module): a CloudEvent or {"namespace","deployment"|"pod","step"?} in, a result out.
import { type ActionFunctionOptions, actionFunction } from '../lib/action-function.ts';
import { scale } from './scale.ts';

export const scaleFunction = (options?: ActionFunctionOptions) => actionFunction('scale', scale, options);

export const { init, handle, authorize, readiness, liveness, shutdown } = scaleFunction();
