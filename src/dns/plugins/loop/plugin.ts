/**
 * loop: finds forwarding loops as CoreDNS does. At start it sends `<random>.<random>.<zone> HINFO` to its own
 * server; the query should be forwarded away and never come back. If it comes back more than twice, the server
 * is forwarding to itself (say, through a resolv.conf that names it): that is logged as an error and the probe
 * is answered SERVFAIL, which breaks the loop. (CoreDNS exits instead; twill keeps the API in the same process.)
 */
import { randomInt } from 'node:crypto';
import { Rcode } from '../../codec/constants.js';
import type { Message } from '../../codec/message.js';
import { argErr, parseServerKey, type Directive } from '../../corefile/parse.js';
import { reply, type Next, type Plugin, type Request, type SetupContext } from '../../plugin.js';
import { logger } from '../../../util/log.js';

const log = logger('dns.loop');
const HINFO = 13;

export class LoopPlugin implements Plugin {
  readonly name = 'loop';
  readonly probe: string;
  seen = 0;
  detected = false;
  private timer?: NodeJS.Timeout;

  constructor(
    zone: string,
    private readonly ctx: SetupContext,
  ) {
    const r = () => randomInt(2 ** 31).toString();
    this.probe = `${r()}.${r()}.${zone === '.' ? '' : zone}`;
  }

  async serve(req: Request, next: Next): Promise<Message> {
    if (req.qtype === HINFO && req.qname === this.probe) {
      this.seen++;
      if (this.seen > 2) {
        if (!this.detected) {
          log.error(
            { probe: this.probe },
            `Loop (${req.remote.address}:${req.remote.port} -> ${this.ctx.listen}) detected for zone "${this.probe}"`,
          );
        }
        this.detected = true;
        return reply(req, Rcode.SERVFAIL);
      }
    }
    return next(req);
  }

  async start(): Promise<void> {
    // Probe after the listeners are up, again while the answer is missing or an error (an upstream not yet
    // reachable), for at most 10 tries; a clean answer means the question left and did not come back.
    let tries = 0;
    const probe = async () => {
      tries++;
      const r = await this.ctx.shared.selfQuery?.(this.probe, HINFO).catch(() => undefined);
      if ((!r || r.rcode === Rcode.SERVFAIL) && tries < 10 && !this.detected && !this.stopped) {
        this.timer = setTimeout(() => void probe(), 500).unref();
      }
    };
    this.timer = setTimeout(() => void probe(), 100).unref();
  }

  private stopped = false;

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }
}

export function setupLoop(d: Directive, ctx: SetupContext): LoopPlugin {
  if (d.args.length || d.block.length) throw argErr(d);
  return new LoopPlugin(parseServerKey(ctx.zones[0] ?? '.', d.line).zone, ctx);
}
