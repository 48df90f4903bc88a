import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runReadmeExample } from '../../../util/readme-example.js';
import { parseCorefile } from '../../corefile/parse.js';
import { setupErrors } from './plugin.js';

process.env.TWILL_LOG_LEVEL ??= 'silent';

test('README example: a failing plugin becomes SERVFAIL and is counted', async () => {
  const { module } = await runReadmeExample('src/dns/plugins/errors');
  assert.deepEqual(module.result, { rcode: 2, counted: 1 });
});

test('setup refuses unknown arguments', () => {
  assert.throws(() => setupErrors(parseCorefile('. {\n errors stderr\n}\n')[0].directives[0]), /Corefile:2 /);
});
