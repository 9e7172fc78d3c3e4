/**
 * `filterByFormula` for the Airtable simulator: a parser for the part of Airtable's formula
 * language that list filters use (reference/destinations.md §3.2), evaluated per record by
 * simulator-formula-eval.ts. No library parses Airtable formulas, so this is written by hand.
 *
 * Grammar, lowest precedence first [U: Airtable does not document precedence; this is the usual
 * spreadsheet order]:
 *
 *   comparison := concat (('=' | '!=' | '<' | '>' | '<=' | '>=') concat)*
 *   concat     := additive ('&' additive)*
 *   additive   := term (('+' | '-') term)*
 *   term       := unary (('*' | '/') unary)*
 *   unary      := '-' unary | primary
 *   primary    := number | 'text' | "text" | {Field name} | Name | NAME '(' args ')' | '(' comparison ')'
 *
 * A bare name not followed by `(` is a field (Airtable allows it for names without spaces).
 * Function names are case-insensitive. A record is kept when the formula's value is truthy: not 0,
 * false, '', BLANK() or an error [C].
 */
import { errors, fail, ok, type Result } from './simulator-errors.js';
import { FUNCTIONS, evaluate, isTruthy, type FormulaRecord } from './simulator-formula-eval.js';

export type { FormulaRecord, FormulaValue } from './simulator-formula-eval.js';

export type Node =
  | { readonly kind: 'literal'; readonly value: string | number }
  | { readonly kind: 'field'; readonly name: string }
  | { readonly kind: 'call'; readonly name: string; readonly args: readonly Node[] }
  | { readonly kind: 'binary'; readonly op: string; readonly left: Node; readonly right: Node }
  | { readonly kind: 'negate'; readonly operand: Node };

type Token =
  | { readonly kind: 'number'; readonly value: number }
  | { readonly kind: 'string'; readonly value: string }
  | { readonly kind: 'field'; readonly value: string }
  | { readonly kind: 'name'; readonly value: string }
  | { readonly kind: 'op'; readonly value: string };

/** A compiled filter: true keeps the record. */
export type RecordFilter = (record: FormulaRecord) => boolean;

class FormulaSyntaxError extends Error {}

const OPERATORS = ['!=', '<=', '>=', '=', '<', '>', '&', '+', '-', '*', '/', '(', ')', ','];
const ESCAPES: Readonly<Record<string, string>> = { n: '\n', t: '\t', r: '\r' };

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i] as string;
    if (/\s/.test(c)) {
      i += 1;
    } else if (c === '{') {
      const end = text.indexOf('}', i + 1);
      if (end === -1) throw new FormulaSyntaxError('unclosed {');
      tokens.push({ kind: 'field', value: text.slice(i + 1, end) });
      i = end + 1;
    } else if (c === "'" || c === '"') {
      let value = '';
      let j = i + 1;
      for (; j < text.length && text[j] !== c; j += 1) {
        const ch = text[j] as string;
        if (ch === '\\' && j + 1 < text.length) {
          j += 1;
          const next = text[j] as string;
          value += ESCAPES[next] ?? next;
        } else value += ch;
      }
      if (j >= text.length) throw new FormulaSyntaxError('unclosed text');
      tokens.push({ kind: 'string', value });
      i = j + 1;
    } else if (/[0-9.]/.test(c)) {
      const match = /^(?:\d+(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?/i.exec(text.slice(i));
      if (!match) throw new FormulaSyntaxError(`unexpected ${c}`);
      tokens.push({ kind: 'number', value: Number(match[0]) });
      i += match[0].length;
    } else if (/[A-Za-z_]/.test(c)) {
      const match = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(i)) as RegExpExecArray;
      tokens.push({ kind: 'name', value: match[0] });
      i += match[0].length;
    } else {
      const op = OPERATORS.find((o) => text.startsWith(o, i));
      if (op === undefined) throw new FormulaSyntaxError(`unexpected ${c}`);
      tokens.push({ kind: 'op', value: op });
      i += op.length;
    }
  }
  return tokens;
}

class Parser {
  #at = 0;
  constructor(private readonly tokens: readonly Token[]) {}

  parse(): Node {
    const node = this.#binary(0);
    if (this.#at < this.tokens.length) throw new FormulaSyntaxError('unexpected text after the formula');
    return node;
  }

  static readonly #LEVELS: ReadonlyArray<readonly string[]> = [['=', '!=', '<', '>', '<=', '>='], ['&'], ['+', '-'], ['*', '/']];

  #binary(level: number): Node {
    const ops = Parser.#LEVELS[level];
    if (ops === undefined) return this.#unary();
    let left = this.#binary(level + 1);
    for (let token = this.#peek(); token?.kind === 'op' && ops.includes(token.value); token = this.#peek()) {
      this.#at += 1;
      left = { kind: 'binary', op: token.value, left, right: this.#binary(level + 1) };
    }
    return left;
  }

  #unary(): Node {
    if (this.#isOp('-')) {
      this.#at += 1;
      return { kind: 'negate', operand: this.#unary() };
    }
    return this.#primary();
  }

  #primary(): Node {
    const token = this.tokens[this.#at++];
    if (token === undefined) throw new FormulaSyntaxError('the formula ends too soon');
    switch (token.kind) {
      case 'number':
      case 'string':
        return { kind: 'literal', value: token.value };
      case 'field':
        return { kind: 'field', name: token.value };
      case 'name':
        if (this.#isOp('(')) return this.#call(token.value);
        // TRUE and FALSE may go without parentheses.
        return /^(true|false)$/i.test(token.value) ? { kind: 'call', name: token.value.toUpperCase(), args: [] } : { kind: 'field', name: token.value };
      case 'op': {
        if (token.value !== '(') throw new FormulaSyntaxError(`unexpected ${token.value}`);
        const inner = this.#binary(0);
        this.#expect(')');
        return inner;
      }
    }
  }

  #call(name: string): Node {
    this.#expect('(');
    const args: Node[] = [];
    if (this.#isOp(')')) this.#at += 1;
    else {
      for (;;) {
        args.push(this.#binary(0));
        if (this.#isOp(',')) this.#at += 1;
        else break;
      }
      this.#expect(')');
    }
    return { kind: 'call', name: name.toUpperCase(), args };
  }

  #peek(): Token | undefined {
    return this.tokens[this.#at];
  }

  #isOp(value: string): boolean {
    const token = this.#peek();
    return token?.kind === 'op' && token.value === value;
  }

  #expect(value: string): void {
    if (!this.#isOp(value)) throw new FormulaSyntaxError(`expected ${value}`);
    this.#at += 1;
  }
}

/** Field names the formula names, and functions it calls that the simulator does not know. */
function check(node: Node, hasField: (name: string) => boolean, unknownFields: Set<string>, unknownFunctions: Set<string>): void {
  switch (node.kind) {
    case 'field':
      if (!hasField(node.name)) unknownFields.add(node.name);
      return;
    case 'call':
      if (!Object.hasOwn(FUNCTIONS, node.name)) unknownFunctions.add(node.name);
      for (const arg of node.args) check(arg, hasField, unknownFields, unknownFunctions);
      return;
    case 'binary':
      check(node.left, hasField, unknownFields, unknownFunctions);
      check(node.right, hasField, unknownFields, unknownFunctions);
      return;
    case 'negate':
      check(node.operand, hasField, unknownFields, unknownFunctions);
      return;
    case 'literal':
      return;
  }
}

/** Parses `filterByFormula`; an error is Airtable's 422 INVALID_FILTER_BY_FORMULA. Empty text keeps every record. */
export function compileFilter(text: string, hasField: (name: string) => boolean): Result<RecordFilter> {
  if (text.trim() === '') return ok(() => true);
  let node: Node;
  try {
    node = new Parser(tokenize(text)).parse();
  } catch (error) {
    if (error instanceof FormulaSyntaxError) return fail(errors.invalidFormula(`Invalid formula. Please check your formula text. (${error.message})`));
    throw error;
  }
  const unknownFields = new Set<string>();
  const unknownFunctions = new Set<string>();
  check(node, hasField, unknownFields, unknownFunctions);
  if (unknownFields.size > 0) return fail(errors.invalidFormula(`Unknown field names: ${[...unknownFields].join(', ')}`));
  if (unknownFunctions.size > 0) return fail(errors.invalidFormula(`Unknown function names: ${[...unknownFunctions].join(', ')} (the simulator knows ${Object.keys(FUNCTIONS).join(', ')})`));
  return ok((record) => isTruthy(evaluate(node, record)));
}
