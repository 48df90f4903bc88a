/**
 * Small HTTP listeners shared by health (/health), ready (/ready) and prometheus (/metrics): plugins that name
 * the same address share one listener, as in CoreDNS.
 */
import http from 'node:http';
import net from 'node:net';
import { ErrorCodes, TwillError } from '../util/errors.js';

export type Route = (req: http.IncomingMessage, res: http.ServerResponse) => void | Promise<void>;

export class HttpEndpoint {
  private readonly routes = new Map<string, Route>();
  private server?: http.Server;
  private listening?: Promise<void>;
  port = 0;

  constructor(readonly address: string) {}

  route(path: string, r: Route): void {
    this.routes.set(path, r);
  }

  unroute(path: string): void {
    this.routes.delete(path);
  }

  listen(): Promise<void> {
    if (this.listening) return this.listening;
    const { host, port } = splitHostPort(this.address);
    const server = http.createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      const r = this.routes.get(path);
      if (!r) {
        res.writeHead(404).end('404 page not found\n');
        return;
      }
      Promise.resolve(r(req, res)).catch((err: Error) => {
        if (!res.headersSent) res.writeHead(500);
        res.end(`${err.message}\n`);
      });
    });
    this.server = server;
    this.listening = new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) =>
        reject(
          new TwillError(ErrorCodes.DnsListen, `cannot listen on ${this.address}: ${err.message}`, {
            cause: err,
          }),
        ),
      );
      server.listen(port, host, () => {
        this.port = (server.address() as net.AddressInfo).port;
        resolve();
      });
    });
    return this.listening;
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    this.listening = undefined;
    if (s) {
      s.closeAllConnections();
      await new Promise<void>((r) => s.close(() => r()));
    }
  }
}

/** The inverse of splitHostPort: IPv6 hosts in brackets. */
export function joinHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** ":8080" → all addresses; "localhost:9153"; "[::1]:53". */
export function splitHostPort(s: string): { host: string | undefined; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(s);
  if (!m) throw new TwillError(ErrorCodes.BadConfig, `expected HOST:PORT, got "${s}"`);
  const host = m[1] ?? m[2];
  return { host: host || undefined, port: Number(m[3]) };
}
