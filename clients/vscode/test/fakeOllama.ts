/**
 * A fake model provider for the integration test: a real HTTP server on 127.0.0.1 speaking
 * Ollama's `/api/chat` stream (newline-delimited JSON, `done: true` last). Replies are
 * scripted per request; every request body is recorded.
 */
import * as http from 'node:http';
import { AddressInfo } from 'node:net';

export interface FakeReply {
  text: string;
  /** Characters per streamed chunk. */
  chunk?: number;
  /** Milliseconds before each chunk. */
  delayMs?: number;
}

export interface FakeRequest {
  model: string;
  body: { model: string; messages: { role: string; content: string }[] };
  /** Resolves when the client hangs up before the reply ended. */
  disconnected: Promise<void>;
}

export class FakeOllama {
  readonly requests: FakeRequest[] = [];
  private readonly queue: FakeReply[] = [];
  private readonly server = http.createServer((req, res) => void this.handle(req, res));

  async start(): Promise<this> {
    this.server.on('connection', (socket) => socket.setNoDelay(true));
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return this;
  }

  get baseUrl(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Queue the replies to the next requests, in order. */
  reply(...replies: FakeReply[]): void {
    this.queue.push(...replies);
  }

  /** Resolves once `n` requests have arrived. */
  async waitForRequests(n: number): Promise<void> {
    while (this.requests.length < n) {
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    let raw = '';
    for await (const chunk of req) {
      raw += chunk;
    }
    if (req.method !== 'POST' || req.url !== '/api/chat') {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: `no route ${req.method} ${req.url}` }));
      return;
    }
    const body = JSON.parse(raw);
    let hungUp = false;
    const disconnected = new Promise<void>((resolve) =>
      res.on('close', () => {
        if (!res.writableFinished) {
          hungUp = true;
          resolve();
        }
      }),
    );
    this.requests.push({ model: body.model, body, disconnected });
    const reply = this.queue.shift() ?? { text: 'Hello from the fake provider.' };
    const size = reply.chunk ?? 16;
    res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    const line = (o: unknown) => res.write(JSON.stringify(o) + '\n');
    let chunks = 0;
    for (let i = 0; i < reply.text.length && !hungUp; i += size) {
      if (reply.delayMs) {
        await new Promise((r) => setTimeout(r, reply.delayMs));
      }
      if (hungUp) {
        return;
      }
      line({
        model: body.model,
        created_at: new Date().toISOString(),
        message: { role: 'assistant', content: reply.text.slice(i, i + size) },
        done: false,
      });
      chunks += 1;
    }
    if (hungUp) {
      return;
    }
    line({
      model: body.model,
      created_at: new Date().toISOString(),
      message: { role: 'assistant', content: '' },
      done: true,
      done_reason: 'stop',
      prompt_eval_count: 42,
      eval_count: chunks,
    });
    res.end();
  }
}
