/**
 * errors: logs every failure of the rest of the chain (an exception from a plugin) with the question, and
 * answers SERVFAIL, as CoreDNS's errors plugin prints the errors handlers return.
 */
import { Rcode } from '../../codec/constants.js';
import { argErr, type Directive } from '../../corefile/parse.js';
import { reply, type Next, type Plugin, type Request } from '../../plugin.js';
import { logger } from '../../../util/log.js';

const log = logger('dns.errors');

export class ErrorsPlugin implements Plugin {
  readonly name = 'errors';
  /** Failures seen, for tests and the ready plugin's curious. */
  count = 0;
  async serve(req: Request, next: Next) {
    try {
      return await next(req);
    } catch (err) {
      this.count++;
      log.error(
        { qname: req.qname, qtype: req.qtype, err: (err as Error).message },
        `${Rcode.SERVFAIL} ${req.qname}`,
      );
      return reply(req, Rcode.SERVFAIL);
    }
  }
}

export function setupErrors(d: Directive): ErrorsPlugin {
  if (d.args.length > 1 || (d.args.length === 1 && d.args[0] !== 'stdout')) throw argErr(d);
  for (const o of d.block) if (o.name !== 'consolidate') throw argErr(o, `unknown property '${o.name}'`);
  return new ErrorsPlugin();
}
