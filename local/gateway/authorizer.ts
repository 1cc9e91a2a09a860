import type { IncomingMessage } from 'node:http';
import type { AuthorizerSpec } from '../local-app';

// API Gateway's Lambda REQUEST authorizers on `$connect`: which requests reach the authorizer, the
// event it gets, and what its answer (an IAM policy) means for the handshake.

/** The query string's parameters, the last value winning as in `queryStringParameters`. */
function queryOf(req: IncomingMessage): URLSearchParams {
  return new URL(req.url ?? '/', 'http://localhost').searchParams;
}

/**
 * Whether every identity source is present and non-empty. API Gateway refuses the handshake with
 * 401 without calling the authorizer when one is missing.
 */
export function hasIdentitySources(authorizer: AuthorizerSpec, req: IncomingMessage): boolean {
  const query = queryOf(req);
  return authorizer.identitySources.every((source) => {
    const [, , kind, name] = source.split('.') as [string, string, string, string];
    const value = kind === 'header' ? req.headers[name.toLowerCase()] : query.get(name);
    return typeof value === 'string' ? value.length > 0 : Array.isArray(value) && value.length > 0;
  });
}

/** `arn:aws:execute-api:{region}:{account}:{apiId}/{stage}/$connect`, as the authorizer sees it. */
export function connectMethodArn(region: string, accountId: string, apiId: string, stage: string): string {
  return `arn:aws:execute-api:${region}:${accountId}:${apiId}/${stage}/$connect`;
}

/**
 * The authorizer's event: the `$connect` event's request parts, plus `type`, `methodArn` and
 * `stageVariables`. Unlike the `$connect` event, its headers keep the handshake's `Connection` and
 * `Upgrade` (as AWS's example shows).
 */
export function authorizerEvent(
  req: IncomingMessage,
  connect: {
    headers: Record<string, string>;
    multiValueHeaders: Record<string, string[]>;
    queryStringParameters?: Record<string, string>;
    multiValueQueryStringParameters?: Record<string, string[]>;
    requestContext: Record<string, unknown>;
  },
  methodArn: string,
  stageVariables: Record<string, string>,
) {
  const handshake: Record<string, string> = {};
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i]!;
    if (/^(connection|upgrade)$/i.test(name)) handshake[name] = req.rawHeaders[i + 1]!;
  }
  return {
    type: 'REQUEST',
    methodArn,
    headers: { ...handshake, ...connect.headers },
    multiValueHeaders: {
      ...Object.fromEntries(Object.entries(handshake).map(([name, value]) => [name, [value]])),
      ...connect.multiValueHeaders,
    },
    ...(connect.queryStringParameters
      ? {
          queryStringParameters: connect.queryStringParameters,
          multiValueQueryStringParameters: connect.multiValueQueryStringParameters,
        }
      : {}),
    stageVariables,
    requestContext: connect.requestContext,
  };
}

export type AuthorizerDecision =
  | { allow: true; authorizer: Record<string, unknown> }
  | { allow: false; status: 401 | 403 | 500; reason: string };

interface Statement {
  Effect?: unknown;
  Action?: unknown;
  Resource?: unknown;
}

const list = (value: unknown): unknown[] =>
  Array.isArray(value) ? value : value === undefined ? [] : [value];

/** IAM's wildcard match: `*` any run of characters, `?` any one character. */
function wildcardMatch(pattern: string, value: string): boolean {
  const regex = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${regex}$`).test(value);
}

function statementMatches(statement: Statement, methodArn: string): boolean {
  const actions = list(statement.Action).map(String);
  const resources = list(statement.Resource).map(String);
  return (
    actions.some((action) => wildcardMatch(action.toLowerCase(), 'execute-api:invoke')) &&
    resources.some((resource) => wildcardMatch(resource, methodArn))
  );
}

/** The authorizer result's `context`: a flat map of strings, numbers and booleans (else API Gateway fails with 500). */
function flatContext(context: unknown): Record<string, unknown> | undefined {
  if (context === undefined || context === null) return {};
  if (typeof context !== 'object' || Array.isArray(context)) return undefined;
  const entries = Object.entries(context as Record<string, unknown>);
  return entries.every(([, value]) => ['string', 'number', 'boolean'].includes(typeof value))
    ? Object.fromEntries(entries)
    : undefined;
}

/** API Gateway's limit on an authorizer's answer. */
const RESULT_MAX_BYTES = 8 * 1024;

/**
 * What API Gateway makes of an authorizer's outcome: an error "Unauthorized" → 401, any other
 * error → 500, an explicit Deny (or no Allow) for the method → 403, a malformed answer → 500, an
 * Allow → `principalId` and the context keys as `requestContext.authorizer`.
 */
export function decide(
  outcome: { result?: unknown; error?: { errorMessage: string } },
  methodArn: string,
): AuthorizerDecision {
  if (outcome.error) {
    return outcome.error.errorMessage === 'Unauthorized'
      ? { allow: false, status: 401, reason: 'authorizer answered Unauthorized' }
      : { allow: false, status: 500, reason: `authorizer failed: ${outcome.error.errorMessage}` };
  }
  const result = outcome.result as
    | { principalId?: unknown; policyDocument?: { Statement?: unknown }; context?: unknown }
    | undefined;
  if (JSON.stringify(result ?? null).length > RESULT_MAX_BYTES)
    return { allow: false, status: 500, reason: 'authorizer result is larger than 8 KB' };
  if (typeof result?.principalId !== 'string' || !result.policyDocument)
    return { allow: false, status: 500, reason: 'authorizer result has no principalId or policyDocument' };
  const context = flatContext(result.context);
  if (!context)
    return {
      allow: false,
      status: 500,
      reason: 'authorizer context must map keys to strings, numbers or booleans',
    };
  const matching = (list(result.policyDocument.Statement) as Statement[]).filter((statement) =>
    statementMatches(statement, methodArn),
  );
  if (matching.some((statement) => statement.Effect === 'Deny'))
    return { allow: false, status: 403, reason: 'policy denies $connect' };
  if (!matching.some((statement) => statement.Effect === 'Allow'))
    return { allow: false, status: 403, reason: 'policy does not allow $connect' };
  return { allow: true, authorizer: { ...context, principalId: result.principalId } };
}
