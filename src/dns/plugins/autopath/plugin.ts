/**
 * autopath: completes a pod's search path on the server. A pod with `ndots:5` asking for `web.other` first asks
 * `web.other.<ns>.svc.<zone>`; when that name is NXDOMAIN, autopath tries the rest of the pod's search path
 * itself (`web.other.svc.<zone>`, `web.other.<zone>`, then `web.other.`) and answers the first name that
 * exists with a CNAME from the asked name to it, so the client is done in one round trip instead of up to five.
 *
 *   autopath [ZONE...] RESOLV-CONF      # RESOLV-CONF: @kubernetes (the client pod's namespace, found by its
 *                                       # address; needs the kubernetes plugin) or a file whose `search` is used
 */
import fs from 'node:fs';
import { Class, Rcode, Type } from '../../codec/constants.js';
import { encode, type Message } from '../../codec/message.js';
import { argErr, parseServerKey, type Directive } from '../../corefile/parse.js';
import { matchZone, type Next, type Plugin, type Request, type SetupContext } from '../../plugin.js';
import type { KubernetesPlugin } from '../kubernetes/plugin.js';

export class AutopathPlugin implements Plugin {
  readonly name = 'autopath';
  private kubernetes?: KubernetesPlugin;

  constructor(
    readonly zones: string[],
    /** '@kubernetes' or a fixed search list (FQDNs). */
    readonly source: '@kubernetes' | string[],
  ) {}

  link(plugins: Plugin[]): void {
    this.kubernetes = plugins.find((p) => p.name === 'kubernetes') as KubernetesPlugin | undefined;
  }

  private searchPath(req: Request): string[] | undefined {
    if (this.source === '@kubernetes') return this.kubernetes?.searchPath(req.remote.address);
    return this.source;
  }

  async serve(req: Request, next: Next): Promise<Message> {
    if (!matchZone(req.qname, this.zones) || req.qclass !== Class.IN) return next(req);
    const search = this.searchPath(req);
    if (!search?.length || !req.qname.endsWith(`.${search[0]}`)) return next(req);
    const base = req.qname.slice(0, req.qname.length - search[0].length);
    const first = await next(req);
    if (first.rcode !== Rcode.NXDOMAIN) return first;
    for (const s of [...search.slice(1), '']) {
      const name = `${base}${s}`;
      const sub = subRequest(req, name);
      let r: Message;
      try {
        r = await next(sub);
      } catch {
        continue;
      }
      if (r.rcode === Rcode.NXDOMAIN || r.rcode === Rcode.SERVFAIL) continue;
      // NODATA for the type asked is still "this name exists": the client would stop there too.
      const ttl = Math.min(r.answers[0]?.ttl ?? 5, r.ttlCap ?? Infinity);
      return {
        ...r,
        questions: req.msg.questions,
        answers: [
          { name: req.msg.questions[0].name, type: Type.CNAME, class: Class.IN, ttl, data: name },
          ...r.answers,
        ],
      };
    }
    return first;
  }
}

function subRequest(req: Request, name: string): Request {
  const q = { ...req.msg.questions[0], name };
  const msg: Message = { ...req.msg, questions: [q] };
  return { ...req, msg, raw: encode(msg), qname: name };
}

export function setupAutopath(d: Directive, ctx: SetupContext): AutopathPlugin {
  if (!d.args.length) throw argErr(d);
  const last = d.args[d.args.length - 1];
  const zones =
    d.args.length > 1 ? d.args.slice(0, -1).map((a) => parseServerKey(a, d.line).zone) : ctx.zones;
  if (last === '@kubernetes') {
    if (!ctx.block.some((x) => x.name === 'kubernetes'))
      throw argErr(d, 'invalid resolv-conf: @kubernetes needs the kubernetes plugin');
    return new AutopathPlugin(zones, '@kubernetes');
  }
  if (last.startsWith('@')) throw argErr(d, `unknown plugin: ${last}`);
  let text: string;
  try {
    text = fs.readFileSync(last, 'utf8');
  } catch {
    throw argErr(d, `failed to parse "${last}": no such file`);
  }
  const search =
    /^\s*search\s+(.+)$/m
      .exec(text)?.[1]
      .trim()
      .split(/\s+/)
      .map((s) => parseServerKey(s, d.line).zone) ?? [];
  return new AutopathPlugin(zones, search);
}
