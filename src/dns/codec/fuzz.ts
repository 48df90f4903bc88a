/** Random and mutated DNS packets for fuzzing, deterministic per seed, bounded by count. */
import { emptyMessage, encode } from './message.js';
import { Type } from './constants.js';

// A small deterministic PRNG so that a failure can be replayed (mulberry32).
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function mutations(count: number, seed = 1): Buffer[] {
  const rnd = prng(seed);
  const m = emptyMessage(7);
  m.questions.push({ name: 'web.default.svc.cluster.local.', type: Type.A, class: 1 });
  m.answers.push({
    name: 'web.default.svc.cluster.local.',
    type: Type.A,
    class: 1,
    ttl: 5,
    data: '10.0.0.1',
  });
  m.answers.push({
    name: '_p._tcp.web.default.svc.cluster.local.',
    type: Type.SRV,
    class: 1,
    ttl: 5,
    data: { priority: 0, weight: 1, port: 80, target: 'web.default.svc.cluster.local.' },
  });
  m.edns = { udpSize: 1232, extRcode: 0, version: 0, dnssecOk: false, options: [] };
  const base = encode(m);
  const out: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const kind = i % 4;
    if (kind === 0) {
      const b = Buffer.alloc(Math.floor(rnd() * 120));
      for (let j = 0; j < b.length; j++) b[j] = Math.floor(rnd() * 256);
      out.push(b);
    } else if (kind === 1) {
      const b = Buffer.from(base);
      const flips = 1 + Math.floor(rnd() * 4);
      for (let j = 0; j < flips; j++) b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256);
      out.push(b);
    } else if (kind === 2) {
      out.push(Buffer.from(base.subarray(0, Math.floor(rnd() * base.length))));
    } else {
      // Pointers sprinkled over the name area: loops and forward jumps.
      const b = Buffer.from(base);
      const at = 12 + Math.floor(rnd() * 30);
      b[at] = 0xc0 | Math.floor(rnd() * 4);
      b[at + 1] = Math.floor(rnd() * 64);
      out.push(b);
    }
  }
  return out;
}
