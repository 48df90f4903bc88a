/**
 * log: one line per query in CoreDNS's common log format,
 *   {remote}:{port} - {>id} "{type} {class} {name} {proto} {size} {>do} {>bufsize}" {rcode} {>rflags} {rsize} {duration}
 * optionally only for some names (`log NAMES...`) and classes of response (`class success|denial|error|all`).
 */
import { Rcode, rcodeName, typeName } from '../../codec/constants.js';
import type { Message } from '../../codec/message.js';
import { encode } from '../../codec/message.js';
import { argErr, parseServerKey, type Directive } from '../../corefile/parse.js';
import { inZone, type Next, type Plugin, type Request } from '../../plugin.js';
import { logger } from '../../../util/log.js';

const log = logger('dns.log');

type LogClass = 'success' | 'denial' | 'error' | 'all';

export class LogPlugin implements Plugin {
  readonly name = 'log';
  constructor(
    readonly names: string[],
    readonly classes: Set<LogClass>,
    /** Where lines go; default the component's logger. */
    readonly sink: (line: string) => void = (line) => log.info(line),
  ) {}

  async serve(req: Request, next: Next): Promise<Message> {
    const start = process.hrtime.bigint();
    const resp = await next(req);
    if (this.names.length && !this.names.some((n) => inZone(req.qname, n))) return resp;
    const cls: LogClass =
      resp.rcode === Rcode.NOERROR ? 'success' : resp.rcode === Rcode.NXDOMAIN ? 'denial' : 'error';
    if (!this.classes.has('all') && !this.classes.has(cls)) return resp;
    const us = Number(process.hrtime.bigint() - start) / 1e9;
    const flags = ['qr', resp.aa && 'aa', resp.tc && 'tc', resp.rd && 'rd', resp.ra && 'ra']
      .filter(Boolean)
      .join(',');
    const q = req.msg.questions[0];
    const line =
      `${req.remote.address}:${req.remote.port} - ${req.msg.id} "${typeName(q.type)} ${q.class === 1 ? 'IN' : `CLASS${q.class}`} ` +
      `${q.name} ${req.proto} ${req.raw.length} ${req.msg.edns?.dnssecOk ? 'true' : 'false'} ${req.msg.edns?.udpSize ?? 512}" ` +
      `${rcodeName(resp.rcode)} ${flags} ${encode(resp).length} ${us.toFixed(9)}s`;
    this.sink(line);
    return resp;
  }
}

export function setupLog(d: Directive, sink?: (line: string) => void): LogPlugin {
  const names = d.args.filter((a) => !a.includes('{')).map((a) => parseServerKey(a, d.line).zone);
  const classes = new Set<LogClass>();
  for (const o of d.block) {
    if (o.name !== 'class' || !o.args.length) throw argErr(o, `unknown property '${o.name}'`);
    for (const a of o.args) {
      if (!['success', 'denial', 'error', 'all'].includes(a)) throw argErr(o, `unknown class: ${a}`);
      classes.add(a as LogClass);
    }
  }
  if (!classes.size) classes.add('all');
  return new LogPlugin(names, classes, sink);
}
