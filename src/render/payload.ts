import { compileFragment, type CompiledFragment, type MissingColumns } from './template.js';

/** The outcome of rendering the payload for one row. */
export type PayloadRenderResult =
  | { ok: true; payload: Record<string, unknown> }
  | { ok: false; reason: string; variable?: string; key: string };

/** The campaign's `payload` compiled once: string values that use `{{ }}` are templates, everything else is copied. */
export interface PayloadTemplate {
  /** Every CSV column the payload refers to. */
  readonly variables: ReadonlySet<string>;
  /** Columns that must be non-empty in a row. */
  readonly requiredVariables: ReadonlySet<string>;
  /** Compares the payload's variables with the CSV header. */
  missingColumns(columns: readonly string[]): MissingColumns;
  /**
   * Renders the payload for one row: a new object (or the same frozen one when nothing in it is templated).
   * A failure names the payload key, e.g. `payload.utm.content: missing value for {{kota}}`.
   */
  /** `seed` (the row's request id) decides every `pick`. */
  render(fields: Readonly<Record<string, string>>, seed?: string): PayloadRenderResult;
}

type Node =
  | { kind: 'constant'; value: unknown }
  | { kind: 'template'; key: string; fragment: CompiledFragment }
  | { kind: 'array'; items: Node[] }
  | { kind: 'object'; entries: [string, Node][] };

/**
 * Compiles every string value inside `payload` that contains `{{` with the same rules as the message (strict
 * variables, helpers, no escaping). Keys are never templated. `options.name` prefixes errors (e.g. the campaign
 * file name); TemplateError names the key path, e.g. `campaigns/x.yaml: payload.ref`.
 */
export function compilePayloadTemplate(payload: Readonly<Record<string, unknown>>, options: { name: string }): PayloadTemplate {
  const variables = new Set<string>();
  const required = new Set<string>();
  const build = (value: unknown, key: string): Node => {
    if (typeof value === 'string') {
      if (!value.includes('{{')) return { kind: 'constant', value };
      const fragment = compileFragment(value, `${options.name}: ${key}`);
      for (const v of fragment.variables) variables.add(v);
      for (const v of fragment.requiredVariables) required.add(v);
      return { kind: 'template', key, fragment };
    }
    if (Array.isArray(value)) return { kind: 'array', items: value.map((item, i) => build(item, `${key}[${i}]`)) };
    if (value !== null && typeof value === 'object') {
      return { kind: 'object', entries: Object.entries(value).map(([k, v]) => [k, build(v, `${key}.${k}`)]) };
    }
    return { kind: 'constant', value };
  };
  const root = build(payload, 'payload');
  const templated = variables.size > 0 || hasTemplate(root);
  const constant = templated ? undefined : deepFreeze(structuredClone(payload) as Record<string, unknown>);

  return {
    variables,
    requiredVariables: required,
    missingColumns(columns) {
      const have = new Set(columns);
      const missing: MissingColumns = { required: [], optional: [] };
      for (const v of variables) if (!have.has(v)) (required.has(v) ? missing.required : missing.optional).push(v);
      return missing;
    },
    render(fields, seed = '') {
      if (constant) return { ok: true, payload: constant };
      try {
        return { ok: true, payload: renderNode(root, fields, seed) as Record<string, unknown> };
      } catch (err) {
        if (err instanceof PayloadFailure) {
          return {
            ok: false,
            key: err.key,
            reason: `${err.key}: ${err.reason}`,
            ...(err.variable === undefined ? {} : { variable: err.variable }),
          };
        }
        throw err;
      }
    },
  };
}

class PayloadFailure extends Error {
  constructor(
    readonly key: string,
    readonly reason: string,
    readonly variable: string | undefined,
  ) {
    super(reason);
  }
}

function renderNode(node: Node, fields: Readonly<Record<string, string>>, seed: string): unknown {
  switch (node.kind) {
    case 'constant':
      return node.value;
    case 'template': {
      const result = node.fragment.renderRaw(fields, seed);
      if (!result.ok) throw new PayloadFailure(node.key, result.reason, result.variable);
      return result.text;
    }
    case 'array':
      return node.items.map((item) => renderNode(item, fields, seed));
    case 'object': {
      const out: Record<string, unknown> = {};
      for (const [k, v] of node.entries) out[k] = renderNode(v, fields, seed);
      return out;
    }
  }
}

function hasTemplate(node: Node): boolean {
  if (node.kind === 'template') return true;
  if (node.kind === 'array') return node.items.some(hasTemplate);
  if (node.kind === 'object') return node.entries.some(([, v]) => hasTemplate(v));
  return false;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
