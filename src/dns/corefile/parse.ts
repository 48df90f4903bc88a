/**
 * The Corefile, as Caddy's lexer reads it for CoreDNS: server blocks `KEY [KEY...] { directives }`, a
 * directive being a name, its arguments on the same line, and optionally a nested `{ ... }` block; `#` starts a
 * comment; quoted strings keep their spaces; `{$ENV}` is replaced from the environment; `(name) { ... }` defines
 * a snippet that `import name` pastes. Errors carry the line number, as CoreDNS prints them.
 */
import { ErrorCodes, TwillError } from '../../util/errors.js';

export interface Directive {
  name: string;
  args: string[];
  block: Directive[];
  line: number;
}

export interface ServerBlock {
  /** As written: ".:53", "cluster.local", "dns://example.org:1053". */
  keys: string[];
  directives: Directive[];
  line: number;
}

/** One key of a server block: its zone (lower-case FQDN) and port (undefined when not written). */
export interface ServerKey {
  zone: string;
  port?: number;
}

interface Token {
  text: string;
  line: number;
  quoted: boolean;
}

export function corefileError(line: number, msg: string): TwillError {
  return new TwillError(ErrorCodes.DnsBadCorefile, `Corefile:${line} - Error during parsing: ${msg}`);
}

function tokenize(text: string, env: NodeJS.ProcessEnv): Token[] {
  const out: Token[] = [];
  let line = 1;
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === '\n') {
      out.push({ text: '\n', line, quoted: false });
      line++;
      i++;
    } else if (c === ' ' || c === '\t' || c === '\r') i++;
    else if (c === '#') {
      while (i < text.length && text[i] !== '\n') i++;
    } else if (c === '"') {
      const start = line;
      let s = '';
      i++;
      while (i < text.length && text[i] !== '"') {
        if (text[i] === '\\' && text[i + 1] === '"') {
          s += '"';
          i += 2;
          continue;
        }
        if (text[i] === '\n') line++;
        s += text[i++];
      }
      if (i >= text.length) throw corefileError(start, 'unterminated quoted string');
      i++;
      out.push({ text: s, line: start, quoted: true });
    } else {
      let s = '';
      while (i < text.length && !/[\s#"]/.test(text[i])) s += text[i++];
      out.push({ text: s, line, quoted: false });
    }
  }
  return out.map((t) =>
    t.quoted
      ? t
      : { ...t, text: t.text.replace(/\{\$([A-Za-z_][A-Za-z0-9_]*)\}/g, (_m, v: string) => env[v] ?? '') },
  );
}

/** Parses a Corefile into server blocks (snippets are expanded). */
export function parseCorefile(text: string, env: NodeJS.ProcessEnv = process.env): ServerBlock[] {
  const toks = tokenize(text, env);
  let p = 0;
  const snippets = new Map<string, Token[]>();
  const blocks: ServerBlock[] = [];
  const skipNewlines = () => {
    while (p < toks.length && toks[p].text === '\n' && !toks[p].quoted) p++;
  };
  const isOpen = (t?: Token) => !!t && !t.quoted && t.text === '{';
  const isClose = (t?: Token) => !!t && !t.quoted && t.text === '}';
  const isNl = (t?: Token) => !!t && !t.quoted && t.text === '\n';

  /** Reads the tokens of a balanced { ... } starting at the '{', returns those inside. */
  const readBalanced = (): Token[] => {
    const open = toks[p];
    let depth = 0;
    const body: Token[] = [];
    for (; p < toks.length; p++) {
      const t = toks[p];
      if (isOpen(t)) depth++;
      else if (isClose(t)) depth--;
      if (depth === 0) {
        p++;
        return body.slice(1);
      }
      body.push(t);
    }
    throw corefileError(open.line, 'unexpected EOF: missing closing brace');
  };

  const parseDirectives = (ts: Token[], depthLeft: number): Directive[] => {
    const expanded: Token[] = [];
    // `import NAME` pastes a snippet in place.
    for (let k = 0; k < ts.length; k++) {
      const t = ts[k];
      const prevNl = k === 0 || isNl(ts[k - 1]);
      if (prevNl && !t.quoted && t.text === 'import' && ts[k + 1] && !isNl(ts[k + 1])) {
        const snip = snippets.get(ts[k + 1].text);
        if (!snip) throw corefileError(t.line, `File to import not found: ${ts[k + 1].text}`);
        expanded.push(...snip, { text: '\n', line: t.line, quoted: false });
        k++;
        continue;
      }
      expanded.push(t);
    }
    const out: Directive[] = [];
    let q = 0;
    while (q < expanded.length) {
      while (q < expanded.length && isNl(expanded[q])) q++;
      if (q >= expanded.length) break;
      const head = expanded[q];
      if (isOpen(head) || isClose(head)) throw corefileError(head.line, `unexpected '${head.text}'`);
      const d: Directive = { name: head.text, args: [], block: [], line: head.line };
      q++;
      while (q < expanded.length && !isNl(expanded[q]) && !isOpen(expanded[q])) {
        if (isClose(expanded[q])) throw corefileError(expanded[q].line, "unexpected '}'");
        d.args.push(expanded[q++].text);
      }
      if (isOpen(expanded[q])) {
        if (depthLeft === 0) throw corefileError(expanded[q].line, 'blocks nested too deep');
        let depth = 0;
        const inner: Token[] = [];
        const openLine = expanded[q].line;
        for (; q < expanded.length; q++) {
          const t = expanded[q];
          if (isOpen(t)) depth++;
          else if (isClose(t)) depth--;
          if (depth === 0) break;
          inner.push(t);
        }
        if (depth !== 0) throw corefileError(openLine, 'unexpected EOF: missing closing brace');
        q++;
        d.block = parseDirectives(inner.slice(1), depthLeft - 1);
      }
      out.push(d);
    }
    return out;
  };

  while (true) {
    skipNewlines();
    if (p >= toks.length) break;
    const first = toks[p];
    if (isOpen(first) || isClose(first)) throw corefileError(first.line, `unexpected '${first.text}'`);
    const snippet = /^\((.+)\)$/.exec(first.text);
    if (snippet && !first.quoted) {
      p++;
      if (!isOpen(toks[p])) throw corefileError(first.line, `snippet ${first.text} needs a block`);
      snippets.set(snippet[1], readBalanced());
      continue;
    }
    const keys: string[] = [];
    while (p < toks.length && !isOpen(toks[p])) {
      const t = toks[p++];
      if (isNl(t)) continue;
      if (isClose(t)) throw corefileError(t.line, "unexpected '}'");
      for (const k of t.text.split(',')) if (k) keys.push(k);
    }
    if (p >= toks.length) throw corefileError(first.line, `server block ${keys.join(' ')} has no '{'`);
    const body = readBalanced();
    const block = { keys, directives: parseDirectives(body, 8), line: first.line };
    for (const k of keys) parseServerKey(k, first.line);
    blocks.push(block);
  }
  if (blocks.length === 0) throw corefileError(1, 'no server blocks');
  return blocks;
}

/** ".:53" → {zone ".", port 53}; "dns://Example.org" → {zone "example.org."}. */
export function parseServerKey(key: string, line = 0): ServerKey {
  let k = key;
  const scheme = /^([a-z0-9+]+):\/\//.exec(k);
  if (scheme) {
    if (scheme[1] !== 'dns') throw corefileError(line, `unsupported scheme ${scheme[1]}:// in "${key}"`);
    k = k.slice(scheme[0].length);
  }
  let port: number | undefined;
  const m = /^(.*?):(\d+)$/.exec(k);
  if (m) {
    port = Number(m[2]);
    if (port > 65535) throw corefileError(line, `invalid port in "${key}"`);
    k = m[1];
  }
  if (k === '') k = '.';
  if (/[\s/]/.test(k) && !/^[\d.]+\/\d+$/.test(k)) throw corefileError(line, `invalid zone "${key}"`);
  // A CIDR key (10.0.0.0/8) becomes its reverse zone, as CoreDNS does for classful prefixes.
  const cidr = /^(\d+)\.(\d+)\.(\d+)\.(\d+)\/(8|16|24)$/.exec(k);
  if (cidr) {
    const octets = cidr.slice(1, 1 + Number(cidr[5]) / 8).reverse();
    const zone = `${octets.join('.')}.in-addr.arpa.`;
    return port === undefined ? { zone } : { zone, port };
  }
  const zone = k === '.' ? '.' : `${k.toLowerCase().replace(/\.$/, '')}.`;
  return port === undefined ? { zone } : { zone, port };
}

/** Argument helpers that fail with the directive's line, as CoreDNS's c.ArgErr(). */
export function argErr(d: Directive, msg = 'Wrong argument count or unexpected line ending'): TwillError {
  return corefileError(d.line, `plugin/${d.name}: ${msg}`);
}

/** A Go-style duration ("5s", "1m30s", "200ms") in ms. */
export function parseDuration(d: Directive, s: string): number {
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;
  let total = 0;
  let consumed = 0;
  for (let m = re.exec(s); m; m = re.exec(s)) {
    total += Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
    consumed += m[0].length;
  }
  if (!s || consumed !== s.length) throw argErr(d, `invalid duration "${s}"`);
  return total;
}

export function parseUint(d: Directive, s: string, max = 2 ** 31): number {
  if (!/^\d+$/.test(s) || Number(s) > max) throw argErr(d, `invalid number "${s}"`);
  return Number(s);
}
