import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runReadmeExample } from '../../../util/readme-example.js';

process.env.TWILL_LOG_LEVEL ??= 'silent';

test('README example: one question, the search path completed on the server', async () => {
  const { module } = await runReadmeExample('src/dns/plugins/autopath');
  assert.deepEqual(module.result, [
    'web.other.default.svc.cluster.local. 5 web.other.svc.cluster.local.',
    'web.other.svc.cluster.local. 1 10.95.0.20',
  ]);
});
