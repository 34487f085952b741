// A small XML reader for the SVG that ngmm writes: it checks well-formedness (one root, balanced
// and properly nested tags, quoted attributes without '<', text and attributes escaped with
// XML's predefined entities only, no duplicate attribute) and returns the element tree, so a
// test can read coordinates back. Not a general XML parser: no DTD, CDATA, comments or PIs
// beyond a leading <?xml …?> declaration, which the writer never emits anyway.

export interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
  text: string;
}

const ENTITY: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function unescape(s: string, where: string): string {
  return s.replace(/&([a-zA-Z]+|#\d+|#x[0-9a-fA-F]+);|&/g, (m, e: string | undefined) => {
    if (e === undefined) throw new Error(`${where}: a bare '&'`);
    if (e.startsWith('#x')) return String.fromCodePoint(parseInt(e.slice(2), 16));
    if (e.startsWith('#')) return String.fromCodePoint(parseInt(e.slice(1), 10));
    if (!(e in ENTITY)) throw new Error(`${where}: unknown entity &${e};`);
    return ENTITY[e];
  });
}

/** Parses a document; throws naming the offset of the first problem. */
export function parseXml(doc: string): XmlElement {
  let i = 0;
  const fail = (msg: string): never => {
    throw new Error(`XML at offset ${i}: ${msg}`);
  };
  const ws = () => {
    while (i < doc.length && /\s/.test(doc[i])) i++;
  };
  ws();
  if (doc.startsWith('<?xml', i)) {
    const e = doc.indexOf('?>', i);
    if (e < 0) fail('unterminated declaration');
    i = e + 2;
    ws();
  }
  const NAME = /[A-Za-z_][A-Za-z0-9_.:-]*/y;
  const name = (): string => {
    NAME.lastIndex = i;
    const m = NAME.exec(doc);
    if (!m) return fail('expected a name');
    i += m[0].length;
    return m[0];
  };
  const element = (): XmlElement => {
    if (doc[i] !== '<') fail("expected '<'");
    i++;
    const el: XmlElement = { name: name(), attrs: {}, children: [], text: '' };
    for (;;) {
      const before = i;
      ws();
      if (doc.startsWith('/>', i)) {
        i += 2;
        return el;
      }
      if (doc[i] === '>') {
        i++;
        break;
      }
      if (i === before) fail('expected whitespace before an attribute');
      const a = name();
      ws();
      if (doc[i] !== '=') fail(`attribute '${a}' without '='`);
      i++;
      ws();
      const q = doc[i];
      if (q !== '"' && q !== "'") fail(`attribute '${a}' not quoted`);
      const end = doc.indexOf(q, i + 1);
      if (end < 0) fail(`attribute '${a}' not closed`);
      const raw = doc.slice(i + 1, end);
      if (raw.includes('<')) fail(`'<' in attribute '${a}'`);
      if (Object.hasOwn(el.attrs, a)) fail(`duplicate attribute '${a}'`);
      el.attrs[a] = unescape(raw, `attribute '${a}'`);
      i = end + 1;
    }
    for (;;) {
      const lt = doc.indexOf('<', i);
      if (lt < 0) fail(`<${el.name}> not closed`);
      const text = doc.slice(i, lt);
      if (text.includes('>')) fail("a bare '>' in text");
      el.text += unescape(text, `text of <${el.name}>`);
      i = lt;
      if (doc.startsWith('</', i)) {
        i += 2;
        const closing = name();
        if (closing !== el.name) fail(`</${closing}> closes <${el.name}>`);
        ws();
        if (doc[i] !== '>') fail("expected '>'");
        i++;
        return el;
      }
      el.children.push(element());
    }
  };
  const root = element();
  ws();
  if (i !== doc.length) fail('content after the root element');
  return root;
}

/** Every element below (and including) `el` in document order that satisfies `pred`. */
export function findAll(el: XmlElement, pred: (e: XmlElement) => boolean): XmlElement[] {
  const out: XmlElement[] = [];
  const walk = (e: XmlElement) => {
    if (pred(e)) out.push(e);
    e.children.forEach(walk);
  };
  walk(el);
  return out;
}

/** Whether an element's class list holds `cls`. */
export const hasClass = (e: XmlElement, cls: string) => (e.attrs.class ?? '').split(/\s+/).includes(cls);
