import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startTestControlPlane } from '../cli/testing.js';
import { startPolicyEnforcer } from './enforce.js';

test('a first sync that cannot reach the kernel fails the start and leaves nothing running', async () => {
  const tcp = await startTestControlPlane('twill-twp-enforce-');
  try {
    await assert.rejects(
      startPolicyEnforcer(
        {
          client: tcp.client,
          nodeName: 'node-1',
          node: { apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-1' } },
          podCIDRs: ['10.243.0.0/24'],
          netns: 'twp-no-such-netns',
          dataDir: tcp.dataDir,
        },
        { denialLogMs: 0 },
      ),
      (err: Error & { code?: string }) => /^TWILL_/.test(err.code ?? ''),
    );
  } finally {
    await tcp.stop();
  }
});
