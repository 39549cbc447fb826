import Handlebars from 'handlebars';
import type { MessageType } from '../rk/types.js';
import { compileWithSetupOnce } from './compile-once.js';
import { BLOCK_HELPERS, HELPER_NAMES, HelperCallError, registerMessageHelpers, withPickSeed } from './helpers.js';

/** Longest text message the API takes, in characters (Unicode code points, see `messageLength`). */
export const TEXT_MAX_CHARS = 4096;
/** Longest caption of a media message, in characters. */
export const CAPTION_MAX_CHARS = 1024;

/** A template that cannot be compiled: names the file, line and column, with a hint. */
export class TemplateError extends Error {
  /** The template's name as given to the compiler (a file name, or e.g. `campaigns/x.yaml: message`). */
  readonly file: string;
  /** 1-based line in the template. */
  readonly line: number | undefined;
  /** 1-based column in the template. */
  readonly column: number | undefined;
  /** What to do about it. */
  readonly hint: string;

  constructor(message: string, details: { file: string; hint: string; line?: number; column?: number; cause?: unknown }) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'TemplateError';
    this.file = details.file;
    this.line = details.line;
    this.column = details.column;
    this.hint = details.hint;
  }
}

/** The outcome of rendering one row: the text, or why the row cannot be sent (naming the variable when one is at fault). */
export type RenderResult = { ok: true; text: string } | { ok: false; reason: string; variable?: string };

/** Template variables that have no column in the CSV header. */
export interface MissingColumns {
  /** Used directly: every row would be invalid. The campaign is unusable. */
  required: string[];
  /** Only used with a fallback (`{{default nickname "Kak"}}`): every row gets the fallback; probably a typo. */
  optional: string[];
}

/** A message template compiled once, rendered per row. */
export interface MessageTemplate {
  /** The name used in errors (usually the file name). */
  readonly name: string;
  readonly type: MessageType;
  /** Character limit for this type: 4,096 for text, 1,024 for a caption. */
  readonly maxLength: number;
  /** Every CSV column the template refers to. */
  readonly variables: ReadonlySet<string>;
  /** Columns that must be non-empty in a row (used outside `default` and outside an `{{#if}}` on themselves). */
  readonly requiredVariables: ReadonlySet<string>;
  /** Compares the template's variables with the CSV header, to refuse a campaign up front. */
  missingColumns(columns: readonly string[]): MissingColumns;
  /** Renders one row; never throws for a row's data. `seed` (the row's request id) decides every `pick`. */
  render(fields: Readonly<Record<string, string>>, seed?: string): RenderResult;
}

/**
 * Counts characters as the API is assumed to: Unicode code points (what PHP's `mb_strlen` and most validators
 * count), so an emoji counts as 1, not as the 2 UTF-16 units of `string.length`.
 */
export function messageLength(text: string): number {
  let surrogatePairs = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        surrogatePairs++;
        i++;
      }
    }
  }
  return text.length - surrogatePairs;
}

// A private instance: helpers registered here never leak into (or depend on) the global Handlebars.
const hb = Handlebars.create();
registerMessageHelpers(hb);
const KNOWN_HELPERS: Record<string, boolean> = Object.fromEntries([...HELPER_NAMES, ...BLOCK_HELPERS].map((n) => [n, true]));
const COMPILE_OPTIONS = {
  strict: true, // a missing column throws instead of leaving a hole
  noEscape: true, // WhatsApp is plain text: no &amp;
  data: false, // no @index/@root: a row is a flat set of columns
  knownHelpers: KNOWN_HELPERS,
  knownHelpersOnly: true,
} as const;
const thousands = new Intl.NumberFormat('en-US');
const HELPER_LIST = HELPER_NAMES.join(', ');

/** A compiled Handlebars fragment with the variable analysis; shared by message and payload templates. */
export interface CompiledFragment {
  readonly variables: ReadonlySet<string>;
  readonly requiredVariables: ReadonlySet<string>;
  /** Renders without length checks or trimming; `seed` decides every `pick` (see `pickIndex`). */
  renderRaw(fields: Readonly<Record<string, string>>, seed?: string): RenderResult;
}

/**
 * Compiles a message template once. `strict` mode and an up-front walk of the template make a row whose
 * variable is missing or empty invalid (`missing value for {{first_name}}`), except where the template uses
 * `default` for it or guards it with `{{#if}}`. Output is not HTML-escaped and is trimmed; the length limit of
 * the type applies. Throws TemplateError for syntax errors, unknown helpers and constructs a flat CSV row cannot
 * feed (partials, `{{#each}}`, `{{@index}}`, `{{a.b}}`).
 */
export function compileMessageTemplate(source: string, options: { name: string; type: MessageType }): MessageTemplate {
  const fragment = compileFragment(source, options.name);
  const isText = options.type === 'text';
  const maxLength = isText ? TEXT_MAX_CHARS : CAPTION_MAX_CHARS;
  const what = isText ? 'message' : 'caption';
  const limitName = isText ? 'text' : 'a caption';
  return {
    name: options.name,
    type: options.type,
    maxLength,
    variables: fragment.variables,
    requiredVariables: fragment.requiredVariables,
    missingColumns: (columns) => missingColumns(fragment, columns),
    render(fields, seed) {
      const result = fragment.renderRaw(fields, seed);
      if (!result.ok) return result;
      const text = result.text.trim();
      if (text === '' && isText) return { ok: false, reason: 'the message is empty after rendering' };
      // Code points never exceed UTF-16 units, so only long texts need counting.
      if (text.length > maxLength) {
        const length = messageLength(text);
        if (length > maxLength) {
          return {
            ok: false,
            reason: `${what} is ${thousands.format(length)} characters; the limit for ${limitName} is ${thousands.format(maxLength)}`,
          };
        }
      }
      return { ok: true, text };
    },
  };
}

/** Human sentence for a template variable with no CSV column, with a suggestion when a column is close. */
export function missingColumnMessage(templateName: string, variable: string, columns: readonly string[]): string {
  const close = columns.find((c) => c.toLowerCase() === variable.toLowerCase() || c.replace(/[\s_-]/g, '') === variable.replace(/[\s_-]/g, ''));
  return (
    `${templateName} uses {{${variable}}} but the CSV has no such column (columns: ${columns.join(', ')})` +
    (close ? ` — did you mean {{${/^[\p{L}_][\p{L}\p{N}_]*$/u.test(close) ? close : `[${close}]`}}}?` : '')
  );
}

function missingColumns(fragment: CompiledFragment, columns: readonly string[]): MissingColumns {
  const have = new Set(columns);
  const required: string[] = [];
  const optional: string[] = [];
  for (const v of fragment.variables) {
    if (have.has(v)) continue;
    (fragment.requiredVariables.has(v) ? required : optional).push(v);
  }
  return { required, optional };
}

interface CallSite {
  helper: string;
  /** Variable name of each argument, when the argument is a variable. */
  args: (string | undefined)[];
}

/** Compiles `source` (named `name` in errors) into a fragment. Exported for `payload.ts`. */
export function compileFragment(source: string, name: string): CompiledFragment {
  let ast: hbs.AST.Program;
  try {
    ast = hb.parse(source);
  } catch (err) {
    throw syntaxError(err, name);
  }
  const analysis = analyse(ast, name);
  try {
    // Compiles eagerly (Handlebars would compile on first render) so a compile error surfaces here, not per row.
    hb.precompile(ast, COMPILE_OPTIONS);
  } catch (err) {
    throw new TemplateError(`${name}: cannot compile the template: ${(err as Error).message}`, {
      file: name,
      hint: 'Simplify the template: plain text with {{column}} variables, the helpers and {{#if}} blocks.',
      cause: err,
    });
  }
  const template = compileWithSetupOnce(hb, ast, COMPILE_OPTIONS);
  const required = [...analysis.required];
  return {
    variables: analysis.variables,
    requiredVariables: analysis.required,
    renderRaw(fields, seed = '') {
      for (const v of required) {
        const value = fields[v];
        if (value === undefined) return { ok: false, reason: `missing value for {{${v}}}: the CSV has no column "${v}"`, variable: v };
        if (value.trim() === '') return { ok: false, reason: `missing value for {{${v}}}`, variable: v };
      }
      try {
        return { ok: true, text: analysis.picks ? withPickSeed(seed, () => template(fields)) : template(fields) };
      } catch (err) {
        return renderFailure(err, analysis.callSites);
      }
    },
  };
}

function renderFailure(err: unknown, callSites: ReadonlyMap<string, CallSite>): RenderResult {
  if (err instanceof HelperCallError) {
    const site = err.loc ? callSites.get(`${err.loc.line}:${err.loc.column}`) : undefined;
    const variable = site?.args[err.argIndex];
    if (err.helper === 'default') {
      const reason = variable ? `missing value for {{${variable}}} and no fallback value` : `{{default}}: ${err.problem}`;
      return variable ? { ok: false, reason, variable } : { ok: false, reason };
    }
    const reason = `{{${err.helper}${variable ? ' ' + variable : ''}}}: ${err.problem}`;
    return variable ? { ok: false, reason, variable } : { ok: false, reason };
  }
  const message = err instanceof Error ? err.message : String(err);
  // Handlebars strict mode: `"kota" not defined in [object Object]`.
  const strict = /^"(.+)" not defined in /.exec(message);
  if (strict) return { ok: false, reason: `missing value for {{${strict[1]}}}`, variable: strict[1]! };
  return { ok: false, reason: `cannot render the message: ${message}` };
}

interface Analysis {
  /** Whether the template calls `pick` (only then does a render need its seed). */
  picks: boolean;
  variables: Set<string>;
  required: Set<string>;
  callSites: Map<string, CallSite>;
}

/** Walks the template once: collects variables (required or not), call sites, and refuses what rows cannot feed. */
function analyse(ast: hbs.AST.Program, name: string): Analysis {
  const result: Analysis = { picks: false, variables: new Set(), required: new Set(), callSites: new Map() };
  const helperNames = new Set<string>(HELPER_NAMES);

  const fail = (node: hbs.AST.Node, message: string, hint: string): never => {
    const line = node.loc?.start.line;
    const column = node.loc ? node.loc.start.column + 1 : undefined;
    throw new TemplateError(`${name}: ${line === undefined ? '' : `line ${line}, column ${column}: `}${message}`, {
      file: name,
      hint,
      ...(line === undefined ? {} : { line }),
      ...(column === undefined ? {} : { column }),
    });
  };

  const variable = (path: hbs.AST.PathExpression, guarded: ReadonlySet<string>, required: boolean): string => {
    if (path.data) {
      fail(path, `{{@${path.parts.join('.')}}} is not available: a row only has its CSV columns`, 'Use {{column_name}} variables.');
    }
    if (path.depth > 0) fail(path, `{{${path.original}}} refers to a parent context, which a CSV row does not have`, 'Use {{column_name}} variables.');
    if (path.parts.length === 0) fail(path, `{{${path.original}}} is not a column`, 'Name a column, e.g. {{first_name}}.');
    if (path.parts.length > 1) {
      const joined = path.parts.join('.');
      fail(path, `{{${path.original}}}: a CSV row has no nested values`, `If a column is named "${joined}", write {{[${joined}]}}.`);
    }
    const v = path.parts[0]!;
    result.variables.add(v);
    if (required && !guarded.has(v)) result.required.add(v);
    return v;
  };

  const expression = (e: hbs.AST.Expression, guarded: ReadonlySet<string>, required: boolean): string | undefined => {
    if (e.type === 'PathExpression') return variable(e as hbs.AST.PathExpression, guarded, required);
    if (e.type === 'SubExpression') helperCall(e as hbs.AST.SubExpression, guarded);
    return undefined;
  };

  const helperCall = (node: hbs.AST.MustacheStatement | hbs.AST.SubExpression, guarded: ReadonlySet<string>): void => {
    const path = node.path as hbs.AST.PathExpression;
    const helper = path.type === 'PathExpression' ? path.original : String((path as { original?: unknown }).original);
    if (!helperNames.has(helper)) {
      const params = node.params.map((p) => (p as { original?: unknown }).original ?? '').join(' ');
      const asColumn = `${helper} ${params}`.trim();
      fail(
        node,
        (BLOCK_HELPERS as readonly string[]).includes(helper)
          ? `{{${helper} …}} must be a block: {{#${helper} column}}…{{/${helper}}}`
          : `unknown helper "${helper}" in {{${asColumn}}}`,
        `Helpers: ${HELPER_LIST}. If "${asColumn}" is a column name with a space, write {{[${asColumn}]}}.`,
      );
    }
    if (node.hash && node.hash.pairs.length > 0) {
      fail(node, `{{${helper}}} takes no key=value options`, `Pass values in order, e.g. {{date due "d MMMM yyyy"}}.`);
    }
    if (helper === 'pick') {
      result.picks = true;
      if (node.params.length < 2) {
        fail(node, '{{pick}} needs at least two choices', 'Write the wordings to choose from, e.g. {{pick "Halo" "Hai" "Selamat siang"}}.');
      }
    }
    const requiredArgs = helper !== 'default';
    const args = node.params.map((p) => expression(p, guarded, requiredArgs));
    result.callSites.set(`${node.loc.start.line}:${node.loc.start.column}`, { helper, args });
  };

  const walk = (program: hbs.AST.Program | undefined, guarded: ReadonlySet<string>): void => {
    if (!program) return;
    for (const statement of program.body) {
      switch (statement.type) {
        case 'ContentStatement':
        case 'CommentStatement':
          break;
        case 'MustacheStatement': {
          const m = statement as hbs.AST.MustacheStatement;
          if (m.path.type !== 'PathExpression') {
            fail(m, 'a tag must name a column, e.g. {{first_name}}', 'Write literal text outside {{ }}.');
          }
          const path = m.path as hbs.AST.PathExpression;
          if (m.params.length > 0 || (m.hash && m.hash.pairs.length > 0)) {
            helperCall(m, guarded);
          } else if (helperNames.has(path.original)) {
            fail(
              m,
              `{{${path.original}}} is a helper and needs a value, e.g. {{${path.original} column}}`,
              `For a column named "${path.original}", write {{this.${path.original}}}.`,
            );
          } else {
            variable(path, guarded, true);
          }
          break;
        }
        case 'BlockStatement': {
          const b = statement as hbs.AST.BlockStatement;
          const helper = b.path.original;
          if (!(BLOCK_HELPERS as readonly string[]).includes(helper)) {
            fail(
              b,
              `{{#${helper}}} blocks are not supported`,
              'Use {{#if column}}…{{else}}…{{/if}} or {{#unless column}}…{{/unless}}; a CSV row has no lists to loop over.',
            );
          }
          if (b.params.length !== 1 || (b.hash && b.hash.pairs.length > 0)) {
            fail(b, `{{#${helper}}} takes exactly one value`, `Write {{#${helper} column}}…{{/${helper}}}.`);
          }
          const tested = expression(b.params[0]!, guarded, false);
          const withTested = tested === undefined ? guarded : new Set([...guarded, tested]);
          // Inside {{#if x}} (or the {{else}} of {{#unless x}}), x is known to be non-empty.
          walk(b.program, helper === 'if' ? withTested : guarded);
          walk(b.inverse, helper === 'unless' ? withTested : guarded);
          break;
        }
        case 'PartialStatement':
        case 'PartialBlockStatement':
          fail(statement, 'partials ({{> name}}) are not supported', 'Put the text in the template itself.');
          break;
        default:
          fail(statement, `${statement.type} is not supported in a message template`, 'Use {{column}} variables, helpers and {{#if}} blocks.');
      }
    }
  };

  walk(ast, new Set());
  return result;
}

interface LexerLocation {
  first_line: number;
  first_column: number;
}

/** Turns a Handlebars (jison) parse error into a TemplateError with line, column and a human sentence. */
function syntaxError(err: unknown, name: string): TemplateError {
  const raw = err instanceof Error ? err.message : String(err);
  const e = err as { lineNumber?: number; column?: number };
  // The parser keeps the position of the token it failed on; Handlebars' typings do not declare it.
  const lexer = (hb as unknown as { Parser?: { lexer?: { yylloc?: LexerLocation } } }).Parser?.lexer?.yylloc;
  let line = e.lineNumber ?? lexer?.first_line;
  let column = e.column !== undefined ? e.column + 1 : lexer ? lexer.first_column + 1 : undefined;
  let sentence: string;
  const mismatch = /^(\S+) doesn't match (\S+) - (\d+):(\d+)/.exec(raw);
  if (mismatch) {
    // Handlebars points at the opening block's name; the closing tag that does not match comes later.
    line = Number(mismatch[3]);
    column = Number(mismatch[4]) + 1;
    sentence = `{{#${mismatch[1]}}} opened here is closed by {{/${mismatch[2]}}}`;
  } else if (/got 'EOF'/.test(raw)) {
    sentence = 'the template ends inside a tag or a block: a {{ without }} or a {{#if}} without {{/if}}';
  } else if (/Expecting 'EOF'.*got 'OPEN_ENDBLOCK'/s.test(raw)) {
    sentence = 'a closing tag {{/…}} has no matching opening {{#…}}';
  } else if (/got 'INVALID'/.test(raw)) {
    sentence = 'a malformed {{ }} tag (a brace missing, or a character a tag cannot hold)';
  } else if (/^Parse error/.test(raw)) {
    sentence = `a malformed tag (${raw.split('\n').pop()})`;
  } else {
    sentence = raw.split('\n')[0]!;
  }
  if (line === undefined) {
    const m = /line (\d+)/.exec(raw);
    if (m) line = Number(m[1]);
    column = undefined;
  }
  const excerpt = raw.split('\n').slice(1, 3).join('\n');
  return new TemplateError(`${name}: ${line === undefined ? '' : `line ${line}${column === undefined ? '' : `, column ${column}`}: `}template syntax error: ${sentence}`, {
    file: name,
    hint: `Check the tags near that position: every {{ needs }}, every {{#if x}} needs {{/if}}.${excerpt ? `\n${excerpt}` : ''}`,
    ...(line === undefined ? {} : { line }),
    ...(column === undefined ? {} : { column }),
    cause: err,
  });
}
