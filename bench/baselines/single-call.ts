// The floor of a cold remediation: the smallest faas-js-runtime function that makes one action's single API call
// (calls.ts) with client-node, for the action BASELINE_ACTION names, as the ServiceAccount KUBECONFIG holds; no
// ledger, no guards, no Event. Bundled as the functions are (bundle.ts) and started as their image starts them.
// POST {"namespace", "pod" | "deployment", "replicas"?} → 200 {"outcome":"applied"}.
import { KubeConfig } from '@kubernetes/client-node';
import { start } from 'faas-js-runtime';
import { ACTIONS, type Action, type CallTarget, type SingleCall, singleCall } from './calls.ts';

const action = process.env.BASELINE_ACTION as Action;
const port = Number(process.env.PORT);
if (!ACTIONS.includes(action) || !Number.isInteger(port) || !process.env.KUBECONFIG) {
  console.error(`single-call: set BASELINE_ACTION (${ACTIONS.join(', ')}), PORT and KUBECONFIG`);
  process.exit(1);
}

let call: SingleCall | undefined;

function init(): void {
  const kc = new KubeConfig();
  kc.loadFromFile(process.env.KUBECONFIG as string);
  call = singleCall(kc, action);
}

async function handle(_context: unknown, body: CallTarget): Promise<{ outcome: string }> {
  await (call as SingleCall)(body);
  return { outcome: 'applied' };
}

await start({ init, handle } as never, { port, logLevel: 'warn' } as never);
console.log(`single-call ${action} listening on ${port}`);
