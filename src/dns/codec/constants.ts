/** DNS numbers from the IANA registries (RFC 1035, 3596, 2782, 6891), named as the RFCs name them. */
export const Type = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  PTR: 12,
  MX: 15,
  TXT: 16,
  AAAA: 28,
  SRV: 33,
  OPT: 41,
  IXFR: 251,
  AXFR: 252,
  MAILB: 253,
  MAILA: 254,
  ANY: 255,
} as const;

export const Class = { IN: 1, CH: 3, HS: 4, NONE: 254, ANY: 255 } as const;

export const Rcode = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
  /** Extended (RFC 6891): the upper 8 bits travel in the OPT record's TTL. */
  BADVERS: 16,
} as const;

export const Opcode = { QUERY: 0, IQUERY: 1, STATUS: 2, NOTIFY: 4, UPDATE: 5 } as const;

const typeNames = new Map<number, string>(Object.entries(Type).map(([k, v]) => [v, k]));
const rcodeNames = new Map<number, string>(Object.entries(Rcode).map(([k, v]) => [v, k]));

/** "A", "SRV", or RFC 3597's "TYPE65" for the unnamed. */
export function typeName(t: number): string {
  return typeNames.get(t) ?? `TYPE${t}`;
}

export function typeFromName(s: string): number | undefined {
  const u = s.toUpperCase();
  if (u in Type) return Type[u as keyof typeof Type];
  const m = /^TYPE(\d{1,5})$/.exec(u);
  return m && Number(m[1]) < 65536 ? Number(m[1]) : undefined;
}

export function rcodeName(r: number): string {
  return rcodeNames.get(r) ?? `RCODE${r}`;
}
