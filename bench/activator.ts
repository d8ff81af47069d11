// A stand-in for what starts a function scaled to zero (Knative's activator, OpenFaaS' gateway scaling from zero):
// the first request starts the function, is held until the function is ready, then goes through; later ones go
// straight through until reset() stops the function again. On 127.0.0.1.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Listening, stop, untilReady } from './processes.ts';

export class Activator {
  readonly #start: () => Promise<Listening>;
  readonly #server: Server;
  #running: Promise<Listening> | undefined;

  private constructor(start: () => Promise<Listening>) {
    this.#start = start;
    this.#server = createServer((req, res) => {
      void this.#forward(req).then(
        ({ status, headers, body }) => res.writeHead(status, headers).end(body),
        (err: Error) => res.writeHead(502, { 'content-type': 'text/plain' }).end(err.message),
      );
    });
  }

  static async listen(start: () => Promise<Listening>): Promise<Activator> {
    const activator = new Activator(start);
    await new Promise<void>((resolve) => activator.#server.listen(0, '127.0.0.1', resolve));
    return activator;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}/`;
  }

  async #forward(
    req: IncomingMessage,
  ): Promise<{ status: number; headers: Record<string, string>; body: string }> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    this.#running ??= this.#start().then(async (fn) => {
      await untilReady(fn);
      return fn;
    });
    const fn = await this.#running;
    const headers = Object.fromEntries(
      Object.entries(req.headers).filter(
        ([k, v]) => typeof v === 'string' && k !== 'host' && k !== 'content-length',
      ),
    ) as Record<string, string>;
    const response = await fetch(`${fn.url}${req.url ?? '/'}`, {
      method: req.method ?? 'POST',
      headers,
      body: Buffer.concat(chunks),
    });
    const body = await response.text();
    // The answer's content type and CloudEvent attributes; the framing is this server's own.
    const kept = [...response.headers].filter(([k]) => k === 'content-type' || k.startsWith('ce-'));
    return { status: response.status, headers: Object.fromEntries(kept), body };
  }

  /** Stops the function: the next request starts it from zero. */
  async reset(): Promise<void> {
    const running = this.#running;
    this.#running = undefined;
    if (running) await stop(await running);
  }

  async close(): Promise<void> {
    await this.reset();
    this.#server.closeAllConnections();
    await new Promise((resolve) => this.#server.close(resolve));
  }
}
