/**
 * ready: HTTP 200 "OK" on /ready at ADDRESS (default :8181) once every plugin that can say so is ready (the
 * kubernetes plugin: its informers have synced); otherwise 503 with the names of those that are not.
 */
import { argErr, type Directive } from '../../corefile/parse.js';
import type { HttpEndpoint } from '../../http.js';
import type { Next, Plugin, Request, SetupContext } from '../../plugin.js';

export class ReadyPlugin implements Plugin {
  readonly name = 'ready';
  constructor(
    readonly endpoint: HttpEndpoint,
    private readonly ctx: SetupContext,
  ) {}

  serve(req: Request, next: Next) {
    return next(req);
  }

  async start(): Promise<void> {
    this.endpoint.route('/ready', (_req, res) => {
      const notReady = this.ctx.shared
        .plugins()
        .filter((p) => p.ready && !p.ready())
        .map((p) => p.name);
      if (notReady.length)
        res.writeHead(503, { 'content-type': 'text/plain' }).end([...new Set(notReady)].sort().join(', '));
      else res.writeHead(200, { 'content-type': 'text/plain' }).end('OK');
    });
    await this.endpoint.listen();
  }
}

export function setupReady(
  d: Directive,
  ctx: SetupContext,
  endpoint: (addr: string) => HttpEndpoint,
): ReadyPlugin {
  if (d.args.length > 1 || d.block.length) throw argErr(d);
  return new ReadyPlugin(endpoint(d.args[0] ?? ':8181'), ctx);
}
