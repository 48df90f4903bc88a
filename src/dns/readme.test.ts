import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runReadmeExample } from '../util/readme-example.js';

process.env.TWILL_LOG_LEVEL ??= 'silent';

test('README example: stub domains, each zone to its own server block', async () => {
  const { module } = await runReadmeExample('src/dns');
  assert.deepEqual(module.result, {
    version: [['1.1.0']],
    corp: ['198.51.100.10'],
    world: ['203.0.113.7'],
    asked: [1, 1],
  });
});
