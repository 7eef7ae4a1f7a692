/**
 * "Another host" for hostile-server tests: an HTTP server on a second loopback address (127.0.0.2 is a different
 * origin on the same machine) that records every request in full (method, URL, headers, body) and answers as the
 * test says. Tests search these records for secrets that must never arrive here.
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Recorded {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

export interface Answer {
  readonly status: number;
  readonly headers?: Record<string, string>;
  readonly body?: string | Buffer;
}

export interface Recorder {
  /** `http://127.0.0.2:PORT` */
  readonly url: string;
  readonly requests: Recorded[];
  /** How to answer; the default is a 400 with a registry-style error body. */
  answer: (req: Recorded) => Answer;
  /** Every byte of every recorded request, as text, for a secret search. */
  everything(): string;
  close(): Promise<void>;
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((ok, fail) => {
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => ok(Buffer.concat(chunks)));
    req.on('error', fail);
  });
}

export async function startRecorder(host = '127.0.0.2'): Promise<Recorder> {
  const requests: Recorded[] = [];
  const recorder: Recorder = {
    url: '',
    requests,
    answer: () => ({
      status: 400,
      headers: { 'content-type': 'application/json' },
      body: '{"errors":[{"code":"UNSUPPORTED","message":"the other host refuses"}]}',
    }),
    everything: () =>
      requests
        .map((r) => `${r.method} ${r.url}\n${JSON.stringify(r.headers)}\n${r.body.toString('latin1')}`)
        .join('\n'),
    close: async () => {},
  };
  const server: Server = createServer(async (req, res) => {
    const seen: Recorded = {
      method: req.method ?? 'GET',
      url: req.url ?? '/',
      headers: req.headers,
      body: await readBody(req),
    };
    requests.push(seen);
    const a = recorder.answer(seen);
    res.writeHead(a.status, { connection: 'close', ...a.headers });
    res.end(a.body ?? '');
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(0, host, ok);
  });
  const { port } = server.address() as AddressInfo;
  return Object.assign(recorder, {
    url: `http://${host}:${port}`,
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  });
}
