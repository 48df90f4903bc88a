import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runReadmeExample } from '../../util/readme-example.js';
import { parseCorefile, parseDuration, parseServerKey } from './parse.js';
import { ErrorCodes, TwillError } from '../../util/errors.js';

test('README example: blocks, keys, snippets, nested options', async () => {
  const { module } = await runReadmeExample('src/dns/corefile');
  assert.deepEqual(module.result, {
    keys: [[{ zone: '.', port: 53 }], [{ zone: 'example.org.', port: 1053 }]],
    first: [
      ['errors', [], []],
      ['kubernetes', ['cluster.local', 'in-addr.arpa', 'ip6.arpa'], ['pods']],
      ['forward', ['.', '127.0.0.1:5353'], []],
    ],
  });
});

test('keys: schemes, CIDRs, case, several per block', () => {
  assert.deepEqual(parseServerKey('dns://Example.ORG.:5353'), { zone: 'example.org.', port: 5353 });
  assert.deepEqual(parseServerKey('10.0.0.0/8'), { zone: '10.in-addr.arpa.' });
  assert.deepEqual(parseServerKey(':53'), { zone: '.', port: 53 });
  assert.deepEqual(parseCorefile('a.test b.test:53, c.test {\n}\n')[0].keys, [
    'a.test',
    'b.test:53',
    'c.test',
  ]);
  assert.throws(() => parseServerKey('tls://x.test'), /unsupported scheme/);
});

test('environment variables and comments', () => {
  const b = parseCorefile('. { # a comment\n  forward . {$UP} # another\n}\n', { UP: '127.0.0.1:5300' });
  assert.deepEqual(b[0].directives[0].args, ['.', '127.0.0.1:5300']);
});

test('errors name the line', () => {
  const cases: [string, RegExp][] = [
    ['. {\n  errors\n', /Corefile:1 - .*missing closing brace/],
    ['. {\n  errors\n}\n}\n', /Corefile:4 - .*unexpected '}'/],
    ['.\n', /Corefile:1 - .*has no '\{'/],
    ['. {\n  import nothing\n}\n', /Corefile:2 - .*File to import not found: nothing/],
    ['. {\n  log "unterminated\n}\n', /Corefile:2 - .*unterminated/],
    ['', /no server blocks/],
  ];
  for (const [text, re] of cases) {
    assert.throws(
      () => parseCorefile(text),
      (e: unknown) => e instanceof TwillError && e.code === ErrorCodes.DnsBadCorefile && re.test(e.message),
      text,
    );
  }
});

test('durations as Go writes them', () => {
  const d = { name: 'x', args: [], block: [], line: 1 };
  assert.equal(parseDuration(d, '1m30s'), 90_000);
  assert.equal(parseDuration(d, '250ms'), 250);
  assert.throws(() => parseDuration(d, '5 s'), /invalid duration/);
});
