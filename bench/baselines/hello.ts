// The floor of a function's start and memory: a bare faas-js-runtime hello-world, bundled as the functions are
// (bundle.ts) and started as their image starts them.
import { start } from 'faas-js-runtime';

const port = Number(process.env.PORT);
if (!Number.isInteger(port)) {
  console.error('hello: set PORT');
  process.exit(1);
}
await start({ handle: () => 'hello' } as never, { port, logLevel: 'warn' } as never);
console.log(`hello listening on ${port}`);
