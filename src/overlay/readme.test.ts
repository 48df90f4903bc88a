import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runReadmeExample } from '../util/readme-example.js';

test('the README example runs', async () => {
  const { module } = await runReadmeExample('src/overlay');
  assert.equal((module.commands as string[]).length, 3);
});
