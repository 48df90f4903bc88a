/**
 * prometheus: counts requests and responses and times the rest of the chain (twill_dns_* metrics), and serves
 * the process's registry on /metrics at ADDRESS (default localhost:9153).
 */
import net from 'node:net';
import { rcodeName, typeName } from '../../codec/constants.js';
import { argErr, type Directive } from '../../corefile/parse.js';
import type { HttpEndpoint } from '../../http.js';
import { dnsMetrics } from '../../metrics.js';
import type { Next, Plugin, Request, SetupContext } from '../../plugin.js';
import type { Message } from '../../codec/message.js';
import { metricsRegistry } from '../../../util/metrics.js';

const COMMON_TYPES = new Set(['A', 'AAAA', 'SRV', 'PTR', 'TXT', 'SOA', 'NS', 'CNAME', 'MX', 'ANY']);

export class PrometheusPlugin implements Plugin {
  readonly name = 'prometheus';
  constructor(
    readonly endpoint: HttpEndpoint,
    private readonly server: string,
  ) {}

  // Metric children per label set, bound once (prom-client hashes labels on every unbound call).
  private readonly children = new Map<string, { inc(): void } | { observe(v: number): void }>();

  private child<T>(key: string, make: () => T): T {
    let c = this.children.get(key) as T | undefined;
    if (!c) this.children.set(key, (c = make()) as never);
    return c;
  }

  serve(req: Request, next: Next): Promise<Message> | Message {
    const start = process.hrtime.bigint();
    const t = typeName(req.qtype);
    const type = COMMON_TYPES.has(t) ? t : 'other';
    const family = net.isIPv6(req.remote.address) ? '2' : '1';
    const server = this.server;
    const zone = req.zone;
    this.child(`q|${zone}|${req.proto}|${family}|${type}`, () =>
      dnsMetrics.requests.labels({ server, zone, proto: req.proto, family, type }),
    ).inc();
    const done = (resp: Message): Message => {
      const rcode = rcodeName(resp.rcode);
      this.child(`r|${zone}|${rcode}`, () => dnsMetrics.responses.labels({ server, zone, rcode })).inc();
      this.child(`d|${zone}|${type}`, () => dnsMetrics.duration.labels({ server, zone, type })).observe(
        Number(process.hrtime.bigint() - start) / 1e9,
      );
      return resp;
    };
    const r = next(req);
    return r instanceof Promise ? r.then(done) : done(r);
  }

  async start(): Promise<void> {
    this.endpoint.route('/metrics', async (_req, res) => {
      res
        .writeHead(200, { 'content-type': metricsRegistry.contentType })
        .end(await metricsRegistry.metrics());
    });
    await this.endpoint.listen();
  }
}

export function setupPrometheus(
  d: Directive,
  ctx: SetupContext,
  endpoint: (addr: string) => HttpEndpoint,
): PrometheusPlugin {
  if (d.args.length > 1 || d.block.length) throw argErr(d);
  return new PrometheusPlugin(endpoint(d.args[0] ?? 'localhost:9153'), `dns://${ctx.listen}`);
}
