/**
 * A TCP relay in front of the registry that counts the bytes clients send: how the bench proves a re-run uploads no
 * model bytes without trusting the tool's own report.
 */
import { connect, createServer, type Server } from 'node:net';

export interface CountingProxy {
  /** `127.0.0.1:PORT` */
  readonly host: string;
  /** Bytes received from clients since the last reset. */
  readonly sent: () => number;
  reset(): void;
  close(): Promise<void>;
}

export async function startCountingProxy(upstreamPort: number): Promise<CountingProxy> {
  let sent = 0;
  const server: Server = createServer((client) => {
    const upstream = connect(upstreamPort, '127.0.0.1');
    client.on('data', (d: Buffer) => {
      sent += d.length;
    });
    client.pipe(upstream);
    upstream.pipe(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end);
    upstream.on('error', end);
    client.on('close', end);
    upstream.on('close', end);
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    host: `127.0.0.1:${port}`,
    sent: () => sent,
    reset() {
      sent = 0;
    },
    close: () =>
      new Promise((ok) => {
        server.close(() => ok());
        server.unref();
      }),
  };
}
