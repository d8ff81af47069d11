// Measures the local control plane's start (spawn → ready) and stop times: `node devkit/startup-time.ts [runs]`.
import { startControlPlane } from './control-plane.ts';

const runs = Number(process.argv[2] ?? 5);
if (!Number.isInteger(runs) || runs < 1) {
  process.stderr.write('usage: node devkit/startup-time.ts [runs ≥ 1]\n');
  process.exit(2);
}
const starts: number[] = [];
const stops: number[] = [];
for (let i = 1; i <= runs; i++) {
  const cluster = await startControlPlane();
  const stopping = performance.now();
  await cluster.stop();
  starts.push(cluster.startupMs ?? Number.NaN);
  stops.push(performance.now() - stopping);
  process.stdout.write(
    `run ${i}: ready in ${cluster.startupMs} ms, stopped in ${Math.round(stops.at(-1) ?? 0)} ms\n`,
  );
}
const mean = (xs: number[]) => Math.round(xs.reduce((a, b) => a + b, 0) / xs.length);
process.stdout.write(
  `start → ready: mean ${mean(starts)} ms, min ${Math.min(...starts)} ms, max ${Math.max(...starts)} ms; ` +
    `stop: mean ${mean(stops)} ms (${runs} runs)\n`,
);
