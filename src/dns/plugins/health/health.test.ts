import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runReadmeExample } from '../../../util/readme-example.js';

test('README example: /health answers OK', async () => {
  const { module } = await runReadmeExample('src/dns/plugins/health');
  assert.deepEqual(module.result, { status: 200, body: 'OK' });
});
