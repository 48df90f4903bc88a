import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runReadmeExample } from '../util/readme-example.js';

test('the README example renders, traces and says what its comment says', async () => {
  const { module } = await runReadmeExample('src/services');
  const r = module.result as { verdict: string; dnat: unknown; masquerade: boolean };
  assert.equal(r.verdict, 'accept');
  assert.deepEqual(r.dnat, { ip: '10.242.0.6', port: 8080 });
  assert.equal(r.masquerade, false);
});
