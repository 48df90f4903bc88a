/**
 * The protobuf wire format (proto2 as gogo-protobuf writes it for Kubernetes): a message is a run of
 * (tag, value) pairs where tag = field number << 3 | wire type. Varints carry bool/int32/int64, length-delimited
 * values carry strings, bytes, embedded messages and packed repeated numbers, and 64/32-bit values are skipped
 * because no Kubernetes type uses fixed-width fields. Groups (wire types 3 and 4), which no Kubernetes message
 * uses, are refused. Error texts are those of the generated Unmarshal functions, so a client sees
 * what kube-apiserver would print for the same bytes. ProtoWriter, at the end, writes proto3 messages (for the
 * OpenAPI v2 protobuf, src/api/openapi-proto.ts).
 */

export const WireType = { Varint: 0, Fixed64: 1, Bytes: 2, StartGroup: 3, EndGroup: 4, Fixed32: 5 } as const;

/** One field as it appeared on the wire: the raw varint for wire type 0, the payload bytes otherwise. */
export interface WireField {
  no: number;
  wireType: number;
  varint?: bigint;
  bytes?: Uint8Array;
}

export class WireError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WireError';
  }
}

/** Reads one varint at `pos`; returns the value and the position after it. */
export function readVarint(buf: Uint8Array, pos: number): [bigint, number] {
  let result = 0n;
  for (let shift = 0n; ; shift += 7n) {
    // Go's generated code gives up after 64 bits of shift ("integer overflow"), before looking at the byte.
    if (shift >= 64n) throw new WireError('proto: integer overflow');
    if (pos >= buf.length) throw new WireError('unexpected EOF');
    const b = buf[pos++];
    result |= BigInt(b & 0x7f) << shift;
    if (b < 0x80) return [BigInt.asUintN(64, result), pos];
  }
}

/**
 * Splits a message into its fields, in wire order. `message` names the Go type in errors, as the generated code
 * does ("proto: Namespace: illegal tag 0 (wire type 0)").
 */
export function readFields(buf: Uint8Array, message: string): WireField[] {
  const fields: WireField[] = [];
  let pos = 0;
  while (pos < buf.length) {
    let key: bigint;
    [key, pos] = readVarint(buf, pos);
    const wireType = Number(key & 7n);
    // Go keeps the field number in an int32, so a huge one prints as negative.
    const no = Number(BigInt.asIntN(32, key >> 3n));
    if (wireType === WireType.EndGroup)
      throw new WireError(`proto: ${message}: wiretype end group for non-group`);
    if (no <= 0) throw new WireError(`proto: ${message}: illegal tag ${no} (wire type ${wireType})`);
    switch (wireType) {
      case WireType.Varint: {
        let v: bigint;
        [v, pos] = readVarint(buf, pos);
        fields.push({ no, wireType, varint: v });
        break;
      }
      case WireType.Fixed64:
        if (pos + 8 > buf.length) throw new WireError('unexpected EOF');
        fields.push({ no, wireType, bytes: buf.subarray(pos, pos + 8) });
        pos += 8;
        break;
      case WireType.Fixed32:
        if (pos + 4 > buf.length) throw new WireError('unexpected EOF');
        fields.push({ no, wireType, bytes: buf.subarray(pos, pos + 4) });
        pos += 4;
        break;
      case WireType.Bytes: {
        let len: bigint;
        [len, pos] = readVarint(buf, pos);
        // The length is read as a signed int in Go: a huge varint turns negative.
        if (BigInt.asIntN(64, len) < 0n)
          throw new WireError('proto: negative length found during unmarshaling');
        const end = pos + Number(len);
        if (end > buf.length) throw new WireError('unexpected EOF');
        fields.push({ no, wireType, bytes: buf.subarray(pos, end) });
        pos = end;
        break;
      }
      default:
        throw new WireError(`proto: illegal wireType ${wireType}`);
    }
  }
  return fields;
}

/** The values of a packed repeated varint field (proto2 writers may pack; readers must accept both forms). */
export function readPackedVarints(buf: Uint8Array): bigint[] {
  const out: bigint[] = [];
  let pos = 0;
  while (pos < buf.length) {
    let v: bigint;
    [v, pos] = readVarint(buf, pos);
    out.push(v);
  }
  return out;
}

const utf8 = new TextDecoder('utf-8');

/** Strings are decoded as Go's JSON encoder would print them: invalid UTF-8 becomes U+FFFD. */
export function utf8String(bytes: Uint8Array): string {
  return utf8.decode(bytes);
}

/**
 * Writes one message, fields in the order they are added (callers add them by field number, as Go's marshaller
 * does). Proto3 rules: zero values (empty string, false, 0) are not written. Embedded messages are written
 * from a finished child writer, so the length prefix is known.
 */
export class ProtoWriter {
  private chunks: Uint8Array[] = [];
  private scratch: number[] = [];

  private flushScratch(): void {
    if (this.scratch.length) {
      this.chunks.push(Uint8Array.from(this.scratch));
      this.scratch = [];
    }
  }

  private varint(v: number | bigint): void {
    let n = BigInt.asUintN(64, BigInt(v));
    while (n >= 0x80n) {
      this.scratch.push(Number(n & 0x7fn) | 0x80);
      n >>= 7n;
    }
    this.scratch.push(Number(n));
  }

  private tag(no: number, wireType: number): void {
    this.varint((no << 3) | wireType);
  }

  bytes(no: number, b: Uint8Array): this {
    this.tag(no, WireType.Bytes);
    this.varint(b.length);
    this.flushScratch();
    this.chunks.push(b);
    return this;
  }

  string(no: number, s: string | undefined): this {
    if (s) this.bytes(no, Buffer.from(s, 'utf8'));
    return this;
  }

  strings(no: number, list: readonly string[] | undefined): this {
    // Repeated strings are written even when empty: presence in a list is the element itself.
    for (const s of list ?? []) this.bytes(no, Buffer.from(s, 'utf8'));
    return this;
  }

  bool(no: number, v: boolean | undefined): this {
    if (v) {
      this.tag(no, WireType.Varint);
      this.varint(1);
    }
    return this;
  }

  int64(no: number, v: number | undefined): this {
    if (v) {
      this.tag(no, WireType.Varint);
      this.varint(v);
    }
    return this;
  }

  double(no: number, v: number | undefined): this {
    if (v) {
      this.tag(no, WireType.Fixed64);
      const b = Buffer.alloc(8);
      b.writeDoubleLE(v);
      this.flushScratch();
      this.chunks.push(b);
    }
    return this;
  }

  /** An embedded message; written even when empty (a set message field is present in proto3). */
  message(no: number, child: ProtoWriter | undefined): this {
    if (child) this.bytes(no, child.finish());
    return this;
  }

  finish(): Uint8Array {
    this.flushScratch();
    return Buffer.concat(this.chunks);
  }
}
