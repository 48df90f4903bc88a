/**
 * health: HTTP 200 "OK" on /health at ADDRESS (default :8080) while the process runs; with `lameduck D` the
 * listener stays up D after shutdown starts, as CoreDNS does.
 */
import { argErr, parseDuration, type Directive } from '../../corefile/parse.js';
import type { HttpEndpoint } from '../../http.js';
import type { Next, Plugin, Request, SetupContext } from '../../plugin.js';

export class HealthPlugin implements Plugin {
  readonly name = 'health';
  constructor(
    readonly endpoint: HttpEndpoint,
    readonly lameduckMs: number,
  ) {}

  serve(req: Request, next: Next) {
    return next(req);
  }

  async start(): Promise<void> {
    this.endpoint.route('/health', (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('OK');
    });
    await this.endpoint.listen();
  }
}

export function setupHealth(
  d: Directive,
  ctx: SetupContext,
  endpoint: (addr: string) => HttpEndpoint,
): HealthPlugin {
  if (d.args.length > 1) throw argErr(d);
  let lameduck = 0;
  for (const o of d.block) {
    if (o.name !== 'lameduck' || o.args.length !== 1) throw argErr(o, `unknown property '${o.name}'`);
    lameduck = parseDuration(o, o.args[0]);
  }
  void ctx;
  return new HealthPlugin(endpoint(d.args[0] ?? ':8080'), lameduck);
}
