// A reader for DiskSim's parameter files (*.diskspecs, *.model): `type name { key = value, … }`
// blocks, values that are words, nested blocks or `[ … ]` lists, `#` comments. Keys and values may
// hold spaces and punctuation ("Read hit over. after read = 0.184"). Used to build the drive
// presets from the measured parameter files in ./drives (see NOTICE there).
import { ArrayError } from '../../shared/errors/errors.ts';

export type SpecValue = string | SpecBlock | SpecValue[];

export interface SpecBlock {
  type: string;
  fields: Map<string, SpecValue>;
}

type Token = { t: '{' | '}' | '[' | ']' | '=' | ','; line: number } | { t: 'word'; text: string; line: number };

/** Longest parameter file accepted (the largest DiskSim model shipped is ~20 KB). */
const SPEC_MAX_CHARS = 1 << 20;

function tokenize(text: string, file: string): Token[] {
  if (text.length > SPEC_MAX_CHARS)
    throw new ArrayError(
      'CONFIG',
      `${file}: ${text.length} characters, more than the ${SPEC_MAX_CHARS} a drive parameter file may have`,
    );
  const out: Token[] = [];
  let line = 1;
  let word = '';
  const flush = () => {
    const w = word.trim();
    if (w) out.push({ t: 'word', text: w.replace(/\s+/g, ' '), line });
    word = '';
  };
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '#') {
      while (i < text.length && text[i] !== '\n') i++;
      i--;
      continue;
    }
    if (c === '\n') line++;
    if ('{}[]=,'.includes(c)) {
      flush();
      out.push({ t: c as '{', line });
    } else word += c;
  }
  flush();
  return out;
}

class Parser {
  private i = 0;
  constructor(
    private readonly tokens: Token[],
    private readonly file: string,
  ) {}

  private fail(why: string): never {
    const tok = this.tokens[Math.min(this.i, this.tokens.length - 1)];
    throw new ArrayError('CONFIG', `${this.file}:${tok?.line ?? 0}: ${why}`);
  }

  private peek(): Token | undefined {
    return this.tokens[this.i];
  }

  private take(t: Token['t']): Token {
    const tok = this.tokens[this.i];
    if (!tok || tok.t !== t)
      this.fail(`expected "${t}", found ${tok ? (tok.t === 'word' ? `"${tok.text}"` : `"${tok.t}"`) : 'the end'}`);
    this.i++;
    return tok;
  }

  /** Every top-level block of the file. */
  file_(): SpecBlock[] {
    const out: SpecBlock[] = [];
    while (this.peek()) out.push(this.block((this.take('word') as { text: string }).text));
    return out;
  }

  /** `{ key = value, … }` after its type word. */
  private block(type: string): SpecBlock {
    this.take('{');
    const fields = new Map<string, SpecValue>();
    while (this.peek()?.t !== '}') {
      if (this.peek()?.t === ',') {
        this.i++;
        continue;
      }
      const key = (this.take('word') as { text: string }).text;
      this.take('=');
      fields.set(key, this.value());
    }
    this.take('}');
    return { type, fields };
  }

  private value(): SpecValue {
    const tok = this.peek();
    if (!tok) this.fail('a value expected');
    if (tok.t === '[') return this.list();
    if (tok.t !== 'word') this.fail(`a value expected, found "${tok.t}"`);
    this.i++;
    if (this.peek()?.t === '{') return this.block(tok.text);
    return tok.text;
  }

  private list(): SpecValue[] {
    this.take('[');
    const out: SpecValue[] = [];
    while (this.peek()?.t !== ']') {
      if (this.peek()?.t === ',') {
        this.i++;
        continue;
      }
      out.push(this.value());
    }
    this.take(']');
    return out;
  }
}

/** Parse a DiskSim parameter file into its top-level blocks. `file` names it in errors. */
export function parseDiskSpec(text: string, file: string): SpecBlock[] {
  return new Parser(tokenize(text, file), file).file_();
}

/** A numeric field of a block, refused with the block type and key if absent or not a number. */
export function num(block: SpecBlock, key: string): number {
  const v = block.fields.get(key);
  const n = typeof v === 'string' ? Number(v) : NaN;
  if (!Number.isFinite(n))
    throw new ArrayError('CONFIG', `${block.type}: "${key}" is ${v === undefined ? 'missing' : 'not a number'}`);
  return n;
}

/** A nested block field. */
export function sub(block: SpecBlock, key: string): SpecBlock {
  const v = block.fields.get(key);
  if (!v || typeof v === 'string' || Array.isArray(v))
    throw new ArrayError('CONFIG', `${block.type}: "${key}" is not a block`);
  return v;
}
