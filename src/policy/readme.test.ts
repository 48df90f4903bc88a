import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runReadmeExample } from '../util/readme-example.js';

test('the README example runs and says what it claims', async () => {
  const { module } = await runReadmeExample('src/policy');
  assert.equal(module.toX, false);
  assert.equal(module.fromX, true);
  assert.match(String(module.nft), /elements = \{ 10\.243\.0\.2 : jump ingress-\w+ \}/);
});
