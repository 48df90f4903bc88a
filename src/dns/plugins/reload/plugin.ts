/**
 * reload: makes the DNS process re-read its Corefile (the file, or the ConfigMap kube-system/coredns) every
 * INTERVAL ± JITTER (default 30s ± 15s; at least 2s ± 1s) and apply it when its SHA-512 changed. A Corefile
 * that does not parse or set up is logged and the running one is kept. The check itself is done by the DNS
 * service (../../service.ts); this plugin only carries the settings and passes every query on.
 */
import { argErr, parseDuration, type Directive } from '../../corefile/parse.js';
import type { Next, Plugin, Request } from '../../plugin.js';

export class ReloadPlugin implements Plugin {
  readonly name = 'reload';
  constructor(
    readonly intervalMs: number,
    readonly jitterMs: number,
  ) {}

  serve(req: Request, next: Next) {
    return next(req);
  }
}

export function setupReload(d: Directive): ReloadPlugin {
  if (d.args.length > 2 || d.block.length) throw argErr(d);
  const interval = d.args[0] ? parseDuration(d, d.args[0]) : 30_000;
  const jitter = d.args[1] ? parseDuration(d, d.args[1]) : interval / 2;
  if (interval < 2000) throw argErr(d, `interval value must be greater or equal to 2s: ${d.args[0]}`);
  if (jitter < 1000) throw argErr(d, `jitter value must be greater or equal to 1s: ${d.args[1]}`);
  if (jitter > interval / 2) throw argErr(d, `jitter value must be less than half of the interval`);
  return new ReloadPlugin(interval, jitter);
}
