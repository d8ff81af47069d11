// Episodes, pure: steps join the alert's current episode (a healed one reopens within the window), an episode heals
// when its last firing instance resolves, closed episodes are forgotten, hand-edited records ignored. No cluster.
import test from 'ava';
import { ago, NOW } from '../snapshots.ts';
import {
  currentEpisode,
  EPISODES_ANNOTATION,
  episodesAnnotation,
  MAX_EPISODES,
  readEpisodes,
  type Step,
  withExhausted,
  withResolved,
  withStep,
} from './episodes.ts';

const step = (id: string, fingerprint: string, at = 60): Step => ({
  action: 'restart-pod',
  id,
  at: ago(at),
  alert: { fingerprint, startsAt: ago(at + 60) },
  result: 'applied',
});

test('a first step opens an episode starting when its alert started', (t) => {
  const episodes = withStep([], 'HighMemoryUsage', step('a', 'f1'), NOW, 3600);
  t.like(episodes, [{ alertname: 'HighMemoryUsage', state: 'open', startsAt: ago(120), firing: ['f1'] }]);
});

test('two instances of one alert share the episode; it heals once both resolved', (t) => {
  let episodes = withStep([], 'HighErrorRate', step('a', 'f1'), NOW, 3600);
  episodes = withStep(episodes, 'HighErrorRate', step('b', 'f2'), NOW, 3600);
  t.is(episodes.length, 1);
  t.deepEqual(episodes[0]?.firing, ['f1', 'f2']);
  const first = withResolved(episodes, 'f1', NOW, true);
  t.like(first.episode, { state: 'open', firing: ['f2'] });
  const second = withResolved(first.episodes, 'f2', NOW, true);
  t.like(second.episode, { state: 'healed', closedAt: NOW.toISOString(), verified: true });
});

test('resolved without its step verified, an episode goes quiet: it continues if the alert returns within the window', (t) => {
  const quiet = withResolved(withStep([], 'X', step('a', 'f1'), NOW, 3600), 'f1', NOW, false);
  t.like(quiet.episode, { state: 'open', firing: [], quietSince: NOW.toISOString() });
  t.like(currentEpisode(quiet.episodes, 'X', new Date(NOW.getTime() + 600_000), 3600), { state: 'open' });
  t.is(currentEpisode(quiet.episodes, 'X', new Date(NOW.getTime() + 4_000_000), 3600), undefined);
  const continued = withStep(quiet.episodes, 'X', step('b', 'f2'), NOW, 3600);
  t.false('quietSince' in (continued[0] ?? {}));
  t.deepEqual(continued[0]?.firing, ['f2']);
});

test('a resolution of an instance no episode knows changes nothing', (t) => {
  const episodes = withStep([], 'HighErrorRate', step('a', 'f1'), NOW, 3600);
  const result = withResolved(episodes, 'unknown', NOW, true);
  t.is(result.episode, undefined);
  t.deepEqual(result.episodes, episodes);
});

test('a healed episode is current within the window and reopens with the next step', (t) => {
  const healed = withResolved(withStep([], 'X', step('a', 'f1'), NOW, 3600), 'f1', NOW, true).episodes;
  const later = new Date(NOW.getTime() + 600_000);
  t.like(currentEpisode(healed, 'X', later, 3600), { state: 'healed' });
  t.is(currentEpisode(healed, 'X', new Date(NOW.getTime() + 4_000_000), 3600), undefined);
  const reopened = withStep(healed, 'X', step('b', 'f9'), later, 3600);
  t.like(reopened, [{ state: 'open', firing: ['f9'] }]);
  t.is(reopened[0]?.steps.length, 2);
  t.false('closedAt' in (reopened[0] ?? {}));
});

test('an exhausted episode is closed; the next step opens a new one', (t) => {
  const exhausted = withExhausted(withStep([], 'X', step('a', 'f1'), NOW, 3600), 'X', NOW, 3600);
  t.like(exhausted, [{ state: 'exhausted' }]);
  t.is(currentEpisode(exhausted, 'X', NOW, 3600), undefined);
  t.is(withStep(exhausted, 'X', step('b', 'f2'), NOW, 3600).length, 2);
});

test('episodes are bounded and closed ones forgotten after a day; a redelivered step is not counted twice', (t) => {
  let episodes = withStep([], 'X', step('a', 'f1'), NOW, 3600);
  episodes = withStep(episodes, 'X', step('a', 'f1'), NOW, 3600);
  t.is(episodes[0]?.steps.length, 1);
  let many = episodes;
  for (let i = 0; i < MAX_EPISODES + 5; i++)
    many = withStep(many, `alert-${i}`, step(`s${i}`, `f${i}`), NOW, 3600);
  t.is(many.length, MAX_EPISODES);
  const old = withExhausted(withStep([], 'Y', step('y', 'fy'), NOW, 3600), 'Y', NOW, 3600);
  const dayLater = new Date(NOW.getTime() + 90_000_000);
  t.deepEqual(
    withStep(old, 'Z', step('z', 'fz'), dayLater, 3600).map((e) => e.alertname),
    ['Z'],
  );
});

test('the annotation round-trips; a hand-mangled one is ignored', (t) => {
  const episodes = withStep([], 'X', step('a', 'f1'), NOW, 3600);
  t.deepEqual(readEpisodes(episodesAnnotation(episodes)), episodes);
  t.deepEqual(readEpisodes({ [EPISODES_ANNOTATION]: '{nope' }), []);
  t.deepEqual(readEpisodes({ [EPISODES_ANNOTATION]: '[{"alertname":1}]' }), []);
});
