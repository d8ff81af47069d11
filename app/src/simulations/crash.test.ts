// The crash simulation on the real process: exit codes, and a crash loop that outlives restarts until its marker goes.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { spawnApp } from '../test-support/app-process.ts';
import { scrape, value } from '../test-support/exposition.ts';
import { post, startInProcess } from '../test-support/in-process.ts';
import { crashLoopMarkerPath, readCrashLoopMarker } from './crash.ts';

function scratchDir(t: { teardown: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'selfheal-app-crash-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('POST /simulate/crash answers 202, then the process exits with the requested code', async (t) => {
  const app = await spawnApp(t);
  const answer = await post(`${app.url}/simulate/crash`, { exitCode: 7, delayMs: 0 });
  t.is(answer.status, 202);
  t.like(answer.json, { simulation: 'crash', params: { exitCode: 7, loop: false }, marker: null });
  t.deepEqual(await app.exited, { code: 7, signal: null });
  t.true(app.lines.some((line) => line.msg === 'crashing on request' && line.exitCode === 7));
  t.false(existsSync(crashLoopMarkerPath(app.stateDir)), 'no loop without loop: true');
});

test('an empty crash request exits with code 1', async (t) => {
  const app = await spawnApp(t);
  t.is((await post(`${app.url}/simulate/crash`)).status, 202);
  t.is((await app.exited).code, 1);
});

test('a crash loop makes every later start crash until the marker is gone', async (t) => {
  const stateDir = scratchDir(t);
  const first = await spawnApp(t, { stateDir });
  const answer = await post(`${first.url}/simulate/crash`, { exitCode: 3, loop: true, delayMs: 0 });
  t.is(answer.status, 202);
  t.is(answer.json.marker, crashLoopMarkerPath(stateDir));
  t.is((await first.exited).code, 3);
  t.like(readCrashLoopMarker(stateDir), { exitCode: 3 });

  // The same scratch directory (a container restart in the same pod): crashes again, and says why.
  for (let restart = 0; restart < 2; restart++) {
    const again = await spawnApp(t, { stateDir, waitForListening: false });
    t.deepEqual(await again.exited, { code: 3, signal: null });
    const why = again.lines.find((line) => line.simulation === 'crash-loop');
    t.regex(String(why?.msg), /crash-loop marker present: exiting with code 3/);
    t.false(again.lines.some((line) => line.msg === 'listening'));
  }

  // A fresh scratch directory (a new pod) starts normally, and so does the old one once the marker is removed.
  const fresh = await spawnApp(t);
  t.is((await fetch(`${fresh.url}/ready`)).status, 200);
  rmSync(crashLoopMarkerPath(stateDir));
  const cured = await spawnApp(t, { stateDir });
  t.is((await fetch(`${cured.url}/ready`)).status, 200);
});

test('an unreadable marker still crashes the start, with code 1', async (t) => {
  const stateDir = scratchDir(t);
  writeFileSync(crashLoopMarkerPath(stateDir), 'not json');
  const app = await spawnApp(t, { stateDir, waitForListening: false });
  t.is((await app.exited).code, 1);
});

test('reset removes the crash-loop marker, and the gauge shows it armed until then', async (t) => {
  const { url, stateDir, exits } = await startInProcess(t);
  const answer = await post(`${url}/simulate/crash`, { exitCode: 42, loop: true, delayMs: 0 });
  t.is(answer.status, 202);
  await new Promise((resolve) => setTimeout(resolve, 50));
  t.deepEqual(exits, [42]);
  t.true(existsSync(crashLoopMarkerPath(stateDir)));
  t.is(value(await scrape(url), 'selfheal_app_simulation_active', { simulation: 'crash-loop' }), 1);

  const reset = await post(`${url}/simulate/reset`);
  t.deepEqual(reset.json.ended, ['crash-loop']);
  t.false(existsSync(crashLoopMarkerPath(stateDir)));
  t.is(value(await scrape(url), 'selfheal_app_simulation_active', { simulation: 'crash-loop' }), 0);
});

test('a crash loop that cannot write its marker is refused with 500 and does not crash', async (t) => {
  const parent = scratchDir(t);
  const blocker = join(parent, 'file');
  writeFileSync(blocker, '');
  // STATE_DIR below a regular file cannot be created.
  const { url, exits } = await startInProcess(t, { stateDir: join(blocker, 'state') });
  const answer = await post(`${url}/simulate/crash`, { loop: true, delayMs: 0 });
  t.is(answer.status, 500);
  t.is(answer.json.error, 'cannot arm the crash loop');
  t.regex((answer.json.problems as string[])[0] ?? '', /^STATE_DIR: /);
  await new Promise((resolve) => setTimeout(resolve, 50));
  t.deepEqual(exits, []);
});
