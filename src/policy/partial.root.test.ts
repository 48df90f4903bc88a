/**
 * Partial syncs for real: through a chain of random policy sets, the table a partial transaction leaves in one
 * namespace must equal the table a full transaction makes in another (as `nft -j list table` shows them).
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, test } from 'node:test';
import { nftApply, nftListTable } from '../linux/nft.js';
import { netnsAdd, netnsDelete } from '../linux/netns.js';
import { POLICY_TABLE, fullScript, partialScript, renderTable, type PolicyTable } from './render.js';
import { randomState, rng } from './fixtures.js';

const tag = crypto.randomBytes(3).toString('hex');
const partialNs = `twp-part-${tag}`;
const fullNs = `twp-full-${tag}`;

after(async () => {
  await netnsDelete(partialNs);
  await netnsDelete(fullNs);
});

/** The listing without handles, objects and set elements in a canonical order. */
function canonical(objs: Record<string, any>[] | undefined): string[] {
  return (objs ?? [])
    .map((o) => {
      const c = structuredClone(o);
      for (const v of Object.values(c) as Record<string, any>[]) {
        delete v.handle;
        if (Array.isArray(v.elem)) v.elem = v.elem.map((e: unknown) => JSON.stringify(e)).sort();
      }
      return JSON.stringify(c);
    })
    .sort();
}

test('a partial transaction leaves the same table as a full one (random policy sets, bounded)', async () => {
  await netnsAdd(partialNs);
  await netnsAdd(fullNs);
  const apply = (text: string, netns: string) => nftApply(text, { tables: [POLICY_TABLE], netns });
  const r = rng(7);
  let prev: PolicyTable | undefined;
  let partials = 0;
  for (let step = 0; step < 12; step++) {
    const next = renderTable(randomState(r), { nodeName: 'node-1' });
    const script = prev ? partialScript(prev, next) : undefined;
    if (script === undefined) await apply(fullScript(next), partialNs);
    else {
      if (script) await apply(script, partialNs);
      partials++;
    }
    await apply(fullScript(next), fullNs);
    assert.deepEqual(
      canonical(await nftListTable(POLICY_TABLE, { netns: partialNs })),
      canonical(await nftListTable(POLICY_TABLE, { netns: fullNs })),
      `step ${step}`,
    );
    prev = next;
  }
  assert.ok(partials >= 10, `${partials} partial syncs`);
});
