import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProtoWriter, WireError, readFields, readPackedVarints, readVarint } from './wire.js';

const b = (...bytes: number[]) => Uint8Array.from(bytes);

test('varints: one byte, several bytes, the full 64 bits', () => {
  assert.deepEqual(readVarint(b(0x01), 0), [1n, 1]);
  assert.deepEqual(readVarint(b(0xac, 0x02), 0), [300n, 2]);
  const max = b(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01);
  assert.deepEqual(readVarint(max, 0), [2n ** 64n - 1n, 10]);
});

test('varints: truncated and overlong ones fail as the generated Go code fails', () => {
  assert.throws(() => readVarint(b(0x80, 0x80), 0), new WireError('unexpected EOF'));
  assert.throws(() => readVarint(new Uint8Array(11).fill(0x80), 0), new WireError('proto: integer overflow'));
});

test('fields of every wire type, in wire order, with their payloads', () => {
  const fields = readFields(
    b(
      0x08,
      0x96,
      0x01, // 1: varint 150
      0x12,
      0x02,
      0x68,
      0x69, // 2: "hi"
      0x19,
      1,
      2,
      3,
      4,
      5,
      6,
      7,
      8, // 3: fixed64
      0x25,
      9,
      9,
      9,
      9, // 4: fixed32
      0x08,
      0x00, // 1 again
    ),
    'T',
  );
  assert.deepEqual(
    fields.map((f) => [f.no, f.wireType, f.varint ?? [...(f.bytes ?? [])]]),
    [
      [1, 0, 150n],
      [2, 2, [0x68, 0x69]],
      [3, 1, [1, 2, 3, 4, 5, 6, 7, 8]],
      [4, 5, [9, 9, 9, 9]],
      [1, 0, 0n],
    ],
  );
});

test('malformed messages are refused with the Go messages', () => {
  assert.throws(() => readFields(b(0x00, 0x01), 'Namespace'), {
    message: 'proto: Namespace: illegal tag 0 (wire type 0)',
  });
  assert.throws(() => readFields(b(0x0c), 'Namespace'), {
    message: 'proto: Namespace: wiretype end group for non-group',
  });
  assert.throws(() => readFields(b(0x0e), 'Namespace'), { message: 'proto: illegal wireType 6' });
  assert.throws(() => readFields(b(0x0a, 0x05, 0x61), 'Namespace'), { message: 'unexpected EOF' });
  assert.throws(() => readFields(b(0x09, 0x01), 'Namespace'), { message: 'unexpected EOF' });
  const negative = b(0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01);
  assert.throws(() => readFields(negative, 'Namespace'), {
    message: 'proto: negative length found during unmarshaling',
  });
});

test('packed repeated varints', () => {
  assert.deepEqual(readPackedVarints(b(0x01, 0xac, 0x02, 0x00)), [1n, 300n, 0n]);
  assert.deepEqual(readPackedVarints(b()), []);
});

test('the writer: fields by number, proto3 zero values left out, long payloads and negative int64s', () => {
  const long = 'x'.repeat(300); // a two-byte length prefix
  const child = new ProtoWriter().string(1, 'in');
  const buf = new ProtoWriter()
    .string(1, 'hi')
    .string(2, '')
    .bool(3, true)
    .bool(4, false)
    .int64(5, -1)
    .int64(6, 0)
    .double(7, 1.5)
    .strings(8, ['a', ''])
    .message(9, child)
    .message(10, new ProtoWriter())
    .string(11, long)
    .finish();
  const fields = readFields(buf, 'T');
  assert.deepEqual(
    fields.map((f) => f.no),
    [1, 3, 5, 7, 8, 8, 9, 10, 11],
  );
  assert.equal(Buffer.from(fields[0].bytes!).toString(), 'hi');
  assert.equal(fields[1].varint, 1n);
  assert.equal(fields[2].varint, 2n ** 64n - 1n);
  assert.equal(Buffer.from(fields[3].bytes!).readDoubleLE(), 1.5);
  assert.deepEqual(
    fields.slice(4, 6).map((f) => Buffer.from(f.bytes!).toString()),
    ['a', ''],
  );
  assert.deepEqual(readFields(fields[6].bytes!, 'C')[0].bytes, Buffer.from('in'));
  assert.equal(fields[7].bytes!.length, 0);
  assert.equal(Buffer.from(fields[8].bytes!).toString(), long);
});
