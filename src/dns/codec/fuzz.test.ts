/**
 * Fuzz: random and mutated packets (bounded in count) never make the parser throw anything but its own
 * TWILL_DNS_MALFORMED error, and whatever it accepts encodes again. The server-side half (it keeps answering
 * others while fed garbage) is in ../server/server.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decode, encode } from './message.js';
import { mutations } from './fuzz.js';
import { ErrorCodes, TwillError } from '../../util/errors.js';

test('the parser throws only its own error on 20,000 random and mutated packets', () => {
  let accepted = 0;
  for (const b of mutations(20_000)) {
    try {
      const m = decode(b);
      accepted++;
      encode(m);
    } catch (err) {
      if (!(err instanceof TwillError) || err.code !== ErrorCodes.DnsMalformed) {
        assert.fail(`unexpected ${String(err)} on ${b.toString('hex')}`);
      }
    }
  }
  assert.ok(accepted > 0, 'some mutations stay valid');
});
