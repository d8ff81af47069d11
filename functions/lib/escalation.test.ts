// The closed loop's decision as a table, pure: act as asked, escalate along the chain (returned, still firing,
// unverified), the chain spent, the breaker open; and the chain itself. No cluster.
import test from 'ava';
import { ago, NOW } from '../snapshots.ts';
import type { Breaker } from './breaker.ts';
import type { Episode, Step } from './episodes.ts';
import { decideLoop, type LoopInput, levelStep, nextInChain } from './escalation.ts';
import type { ActionName } from './events.ts';
import { DEFAULT_CHAIN, parseChain } from './loop-config.ts';
import type { Verification } from './verify.ts';

const A = { name: 'HighErrorRate', fingerprint: 'aaaa', startsAt: ago(300) };
const B = { name: 'HighErrorRate', fingerprint: 'bbbb', startsAt: ago(60) };

const step = (action: ActionName, at: number, alert = A): Step => ({
  action,
  id: `${action}-${at}`,
  at: ago(at),
  alert: { fingerprint: alert.fingerprint, startsAt: alert.startsAt },
  result: 'applied',
});

const open = (...steps: Step[]): Episode => ({
  alertname: 'HighErrorRate',
  startsAt: A.startsAt,
  state: 'open',
  steps,
  firing: [A.fingerprint],
});

const verified: Verification = { state: 'verified', message: 'replaced' };
const pending: Verification = { state: 'pending', message: 'waiting' };
const failed: Verification = { state: 'failed', message: 'not verified after 600s' };
const breaker: Breaker = {
  openedAt: ago(30),
  reason: 'chain-exhausted',
  alertname: 'HighErrorRate',
  message: 'spent',
  steps: [],
};

type Row = [title: string, input: Partial<LoopInput>, expected: object];

const rows: Row[] = [
  ['no episode: act as asked, opening one', {}, { kind: 'act', step: 0 }],
  [
    'another alert name has its own episode',
    {
      alert: { ...A, name: 'PodNotReady' },
      episodes: [open(step('restart-pod', 700))],
      verification: verified,
    },
    { kind: 'act', step: 0 },
  ],
  [
    'the last step is not verified yet: this instance gets its action (the usual guards decide)',
    { episodes: [open(step('restart-pod', 20))], alert: B, verification: pending },
    { kind: 'act', step: 1 },
  ],
  [
    'a new instance after a verified restart: escalate to redeploy',
    { episodes: [open(step('restart-pod', 120))], alert: B, verification: verified },
    { kind: 'escalate', from: 'restart-pod', to: 'redeploy', step: 1, reason: 'returned' },
  ],
  [
    'the same instance again soon after a verified step: act as asked (a repeat, the ledger says already done)',
    { episodes: [open(step('restart-pod', 120))], alert: A, verification: verified },
    { kind: 'act', step: 1 },
  ],
  [
    'the same alert with another startsAt from before the step (a second Alertmanager, an HA pair of Prometheus): not a return',
    {
      episodes: [open(step('restart-pod', 120))],
      alert: { ...A, startsAt: ago(250) },
      verification: verified,
    },
    { kind: 'act', step: 1 },
  ],
  [
    'the same alert firing anew after the verified step: a return',
    {
      episodes: [open(step('restart-pod', 120))],
      alert: { ...A, startsAt: ago(30) },
      verification: verified,
    },
    { kind: 'escalate', to: 'redeploy', reason: 'returned' },
  ],
  [
    'the same instance still firing past the settle time after a verified step: escalate',
    { episodes: [open(step('restart-pod', 700))], alert: A, verification: verified },
    { kind: 'escalate', to: 'redeploy', reason: 'still-firing' },
  ],
  [
    'a step that was not verified in time escalates whatever instance asks',
    { episodes: [open(step('restart-pod', 700))], alert: A, verification: failed },
    { kind: 'escalate', to: 'redeploy', reason: 'unverified' },
  ],
  [
    'after redeploy comes scale',
    { episodes: [open(step('restart-pod', 900), step('redeploy', 700))], alert: B, verification: failed },
    { kind: 'escalate', from: 'redeploy', to: 'scale', step: 2 },
  ],
  [
    'after scale the chain is spent',
    {
      episodes: [open(step('restart-pod', 900), step('redeploy', 800), step('scale', 700))],
      alert: B,
      verification: failed,
    },
    { kind: 'exhausted', from: 'scale', reason: 'unverified' },
  ],
  [
    'an alert routed to redeploy starts the chain there: next is scale',
    { action: 'redeploy', episodes: [open(step('redeploy', 700))], alert: B, verification: verified },
    { kind: 'escalate', to: 'scale' },
  ],
  [
    'a DaemonSet has no replicas: scale is passed over, the chain is spent after redeploy',
    {
      kind: 'DaemonSet',
      episodes: [open(step('restart-pod', 900), step('redeploy', 700))],
      verification: failed,
    },
    { kind: 'exhausted', from: 'redeploy' },
  ],
  [
    'a workload chain of restart-pod then notify stops after one restart',
    {
      chain: ['restart-pod', 'notify'],
      episodes: [open(step('restart-pod', 120))],
      alert: B,
      verification: verified,
    },
    { kind: 'exhausted', from: 'restart-pod', reason: 'returned' },
  ],
  [
    'an alert that returns within the window after healing escalates',
    {
      episodes: [{ ...open(step('restart-pod', 900)), state: 'healed', closedAt: ago(600), firing: [] }],
      alert: B,
    },
    { kind: 'escalate', to: 'redeploy', reason: 'returned' },
  ],
  [
    'an alert that returns after the window opens a new episode',
    {
      episodes: [{ ...open(step('restart-pod', 7200)), state: 'healed', closedAt: ago(4000), firing: [] }],
      alert: B,
    },
    { kind: 'act', step: 0 },
  ],
  [
    'an exhausted episode is closed: once the breaker is cleared, a new episode starts',
    {
      episodes: [{ ...open(step('restart-pod', 900)), state: 'exhausted', closedAt: ago(100) }],
      alert: B,
    },
    { kind: 'act', step: 0 },
  ],
  ['an open breaker stops everything', { breaker, episodes: [] }, { kind: 'breaker-open' }],
  [
    'an alert that returns to a quiet episode (resolved, its step never verified) escalates',
    {
      episodes: [{ ...open(step('restart-pod', 300)), firing: [], quietSince: ago(200) }],
      alert: B,
      verification: pending,
    },
    { kind: 'escalate', to: 'redeploy', reason: 'returned' },
  ],
  [
    'an alert that returns long after an episode went quiet starts a new one',
    {
      episodes: [{ ...open(step('restart-pod', 7200)), firing: [], quietSince: ago(4000) }],
      alert: B,
      verification: pending,
    },
    { kind: 'act', step: 0 },
  ],
  [
    'a lower step asked for while a higher one is being verified: wait, repeat nothing',
    { episodes: [open(step('restart-pod', 200), step('redeploy', 100))], alert: B, verification: pending },
    { kind: 'wait' },
  ],
  [
    'the step being verified asked for again (another instance): act as asked, the guards decide',
    {
      action: 'redeploy',
      episodes: [open(step('restart-pod', 200), step('redeploy', 100))],
      alert: B,
      verification: pending,
    },
    { kind: 'act', step: 2 },
  ],
  [
    'a lower step repeated for another instance never moves the chain back',
    {
      episodes: [open(step('restart-pod', 900), step('redeploy', 800), step('restart-pod', 700, B))],
      alert: B,
      verification: failed,
    },
    { kind: 'escalate', from: 'redeploy', to: 'scale' },
  ],
];

function inputOf(over: Partial<LoopInput>): LoopInput {
  return {
    action: 'restart-pod',
    alert: A,
    episodes: [],
    breaker: undefined,
    chain: DEFAULT_CHAIN,
    kind: 'Deployment',
    verification: undefined,
    now: NOW,
    settleSeconds: 600,
    windowSeconds: 3600,
    ...over,
  };
}

test('loop: a returning alert is said to return after a heal, or after a resolution its step never verified', (t) => {
  const healed = decideLoop(
    inputOf({
      episodes: [{ ...open(step('restart-pod', 900)), state: 'healed', closedAt: ago(600), firing: [] }],
      alert: B,
    }),
  );
  t.regex('message' in healed ? healed.message : '', /returned 600s after restart-pod healed it/);
  const quiet = decideLoop(
    inputOf({
      episodes: [{ ...open(step('restart-pod', 300)), firing: [], quietSince: ago(200) }],
      alert: B,
      verification: pending,
    }),
  );
  t.regex(
    'message' in quiet ? quiet.message : '',
    /returned 200s after it resolved with restart-pod not verified/,
  );
});

for (const [title, over, expected] of rows) {
  test(`loop: ${title}`, (t) => {
    t.like(decideLoop(inputOf(over)), expected);
  });
}

test('chain: parsed in order, notify implied at the end, nothing after notify, no repeats', (t) => {
  t.deepEqual(parseChain('restart-pod, redeploy'), { chain: ['restart-pod', 'redeploy', 'notify'] });
  t.deepEqual(parseChain('scale,notify'), { chain: ['scale', 'notify'] });
  t.deepEqual(parseChain('notify'), { chain: ['notify'] });
  t.like(parseChain('notify,scale'), { problem: 'notify ends the chain: nothing may follow it' });
  t.like(parseChain('redeploy,redeploy'), { problem: 'redeploy appears twice' });
  t.regex((parseChain('reboot') as { problem: string }).problem, /"reboot" is not an action/);
  t.like(parseChain(' , '), { problem: 'names no step' });
});

test('chain: the next step follows the last one taken; outside the chain, the first not yet taken', (t) => {
  t.is(nextInChain(DEFAULT_CHAIN, ['restart-pod'], 'Deployment'), 'redeploy');
  t.is(nextInChain(DEFAULT_CHAIN, ['restart-pod', 'restart-pod'], 'Deployment'), 'redeploy');
  t.is(nextInChain(DEFAULT_CHAIN, ['scale'], 'Deployment'), 'notify');
  t.is(nextInChain(['redeploy', 'notify'], ['scale'], 'Deployment'), 'redeploy');
  t.is(nextInChain(DEFAULT_CHAIN, ['redeploy'], 'DaemonSet'), 'notify');
  t.is(nextInChain(DEFAULT_CHAIN, ['restart-pod', 'redeploy', 'restart-pod'], 'Deployment'), 'scale');
});

test('chain: the episode stands at its furthest step, the latest of equals', (t) => {
  const steps = [
    step('restart-pod', 900),
    step('redeploy', 800),
    step('restart-pod', 700),
    step('redeploy', 600),
  ];
  t.is(levelStep(open(...steps), DEFAULT_CHAIN)?.id, 'redeploy-600');
  t.is(levelStep(open(step('restart-pod', 5)), DEFAULT_CHAIN)?.id, 'restart-pod-5');
});
