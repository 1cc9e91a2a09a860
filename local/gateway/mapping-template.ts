import { render } from 'velocityjs';
import type { IntegrationSpec } from '../local-app';
import { evaluateSelectionExpression } from './route-selection';

// Request templates of non-proxy (`AWS`) integrations, rendered with a Velocity engine and the
// variables API Gateway gives them: $context, $input, $util, $stageVariables.

/** A JSONPath of the forms API Gateway templates use: `$`, `$.a.b`, `$.a[0]`, `$['a b']`. */
function jsonPath(root: unknown, path: string): unknown {
  if (!path.startsWith('$')) throw new Error(`JSONPath ${path} must start with $`);
  const steps = [...path.slice(1).matchAll(/\.([^.[\]]+)|\[(\d+)\]|\['([^']*)'\]|\["([^"]*)"\]/g)];
  let value = root;
  for (const [, dotted, index, single, double] of steps) {
    const key = dotted ?? single ?? double ?? Number(index);
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string | number, unknown>)[key];
  }
  return value;
}

const hex4 = (code: number) => `\\u${code.toString(16).toUpperCase().padStart(4, '0')}`;

/** Java's StringEscapeUtils.escapeEcmaScript, which `$util.escapeJavaScript` is. */
function escapeJavaScript(text: unknown): string {
  const named: Record<string, string> = {
    "'": "\\'",
    '"': '\\"',
    '\\': '\\\\',
    '/': '\\/',
    '\b': '\\b',
    '\f': '\\f',
    '\n': '\\n',
    '\r': '\\r',
    '\t': '\\t',
  };
  return [...String(text)]
    .map((char) => {
      const code = char.codePointAt(0)!;
      if (named[char]) return named[char];
      if (code < 0x20 || (code > 0x7e && code <= 0xffff)) return hex4(code);
      if (code > 0xffff) return [...char.split('')].map((unit) => hex4(unit.charCodeAt(0))).join('');
      return char;
    })
    .join('');
}

/** Java's URLEncoder (form encoding: space as `+`), which `$util.urlEncode` is. */
function urlEncode(text: unknown): string {
  return encodeURIComponent(String(text))
    .replace(/[!'()~]/g, (char) => `%${char.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, '+');
}

export interface TemplateInput {
  /** The WebSocket message (raw text). */
  body: string;
  /** The event's requestContext: `$context`. */
  context: Record<string, unknown>;
  stageVariables: Record<string, string>;
}

/** The template an integration applies to a message, by its TemplateSelectionExpression, if any. */
export function selectTemplate(integration: IntegrationSpec, body: string): string | undefined {
  const templates = integration.requestTemplates;
  const expression = integration.templateSelectionExpression ?? '\\$default';
  const key = expression.startsWith('$request.') ? evaluateSelectionExpression(expression, body) : undefined;
  if (key !== undefined && key in templates) return templates[key];
  return templates.$default;
}

/** A request template rendered as API Gateway renders it. */
export function renderTemplate(template: string, input: TemplateInput): string {
  const parsed = () => {
    try {
      return JSON.parse(input.body) as unknown;
    } catch {
      return undefined;
    }
  };
  const variables = {
    context: input.context,
    stageVariables: input.stageVariables,
    input: {
      body: input.body,
      json: (path: string) => JSON.stringify(jsonPath(parsed(), path) ?? null),
      path: (path: string) => jsonPath(parsed(), path),
      params: () => ({ path: {}, querystring: {}, header: {} }),
    },
    util: {
      escapeJavaScript,
      parseJson: (text: string) => JSON.parse(text) as unknown,
      urlEncode,
      urlDecode: (text: string) => decodeURIComponent(String(text).replace(/\+/g, ' ')),
      base64Encode: (text: string) => Buffer.from(String(text)).toString('base64'),
      base64Decode: (text: string) => Buffer.from(String(text), 'base64').toString(),
    },
  };
  return render(template, variables);
}
