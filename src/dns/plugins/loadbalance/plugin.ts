/**
 * loadbalance: shuffles the A, AAAA and MX records of every answer (round_robin, CoreDNS's only policy), leaving
 * CNAMEs first, so clients that take the first address spread over all of them.
 */
import { Type } from '../../codec/constants.js';
import type { Message, RR } from '../../codec/message.js';
import { argErr, type Directive } from '../../corefile/parse.js';
import type { Next, Plugin, Request } from '../../plugin.js';

export function shuffleAnswers(rrs: RR[], random: () => number = Math.random): RR[] {
  const movable = rrs.filter((r) => r.type === Type.A || r.type === Type.AAAA || r.type === Type.MX);
  if (movable.length < 2) return rrs;
  const rest = rrs.filter((r) => !movable.includes(r));
  for (let i = movable.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [movable[i], movable[j]] = [movable[j], movable[i]];
  }
  return [...rest, ...movable];
}

export class LoadbalancePlugin implements Plugin {
  readonly name = 'loadbalance';
  async serve(req: Request, next: Next): Promise<Message> {
    const resp = await next(req);
    if (resp.answers.length < 2) return resp;
    // A new Message: the one we got may be shared (memoised by kubernetes or cache).
    return { ...resp, answers: shuffleAnswers(resp.answers) };
  }
}

export function setupLoadbalance(d: Directive): LoadbalancePlugin {
  if (d.args.length > 1 || (d.args.length === 1 && d.args[0] !== 'round_robin'))
    throw argErr(d, `unknown policy: ${d.args[0]}`);
  return new LoadbalancePlugin();
}
