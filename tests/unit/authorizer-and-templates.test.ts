import { decide } from '../../local/gateway/authorizer';
import { renderTemplate } from '../../local/gateway/mapping-template';

// What API Gateway makes of a REQUEST authorizer's answer, and how it renders request templates.

const ARN = 'arn:aws:execute-api:us-east-1:123456789012:abc1234567/prod/$connect';
const answer = (statement: unknown, extra: Record<string, unknown> = {}) => ({
  result: { principalId: 'me', policyDocument: { Version: '2012-10-17', Statement: statement }, ...extra },
});

describe('authorizer answers', () => {
  test.each([
    ['an exact Allow', { Effect: 'Allow', Action: 'execute-api:Invoke', Resource: ARN }],
    [
      'a wildcard resource',
      { Effect: 'Allow', Action: 'execute-api:Invoke', Resource: 'arn:aws:execute-api:*:*:*/prod/*' },
    ],
    ['a ? wildcard', { Effect: 'Allow', Action: 'execute-api:*', Resource: ARN.replace('prod', 'pro?') }],
    [
      'lists of actions and resources',
      { Effect: 'Allow', Action: ['s3:GetObject', '*'], Resource: ['x', ARN] },
    ],
    ['one statement, not a list', { Effect: 'Allow', Action: 'execute-api:invoke', Resource: '*' }],
  ])('%s allows', (_, statement) => {
    expect(decide(answer(Array.isArray(statement) ? statement : [statement]), ARN)).toEqual({
      allow: true,
      authorizer: { principalId: 'me' },
    });
  });

  test('context keys travel with principalId; principalId cannot be overridden by the context', () => {
    const allow = [{ Effect: 'Allow', Action: 'execute-api:Invoke', Resource: ARN }];
    expect(
      decide(answer(allow, { context: { user: 'ada', n: 1, ok: false, principalId: 'x' } }), ARN),
    ).toEqual({
      allow: true,
      authorizer: { user: 'ada', n: 1, ok: false, principalId: 'me' },
    });
  });

  test.each([
    [
      'an explicit Deny beside an Allow',
      [
        { Effect: 'Allow', Action: '*', Resource: '*' },
        { Effect: 'Deny', Action: '*', Resource: ARN },
      ],
      403,
    ],
    [
      'an Allow for another stage only',
      [{ Effect: 'Allow', Action: '*', Resource: ARN.replace('prod', 'dev') }],
      403,
    ],
    ['an Allow of another service', [{ Effect: 'Allow', Action: 's3:*', Resource: '*' }], 403],
    ['no statements', [], 403],
  ])('%s is refused with its status', (_, statement, status) => {
    expect(decide(answer(statement), ARN)).toMatchObject({ allow: false, status });
  });

  test.each([
    ['"Unauthorized"', { error: { errorMessage: 'Unauthorized' } }, 401],
    ['another error', { error: { errorMessage: 'boom' } }, 500],
    ['no principalId', { result: { policyDocument: { Statement: [] } } }, 500],
    ['no policy', { result: { principalId: 'me' } }, 500],
    [
      'a nested context',
      answer([{ Effect: 'Allow', Action: '*', Resource: '*' }], { context: { a: { b: 1 } } }),
      500,
    ],
    [
      'an answer over 8 KB',
      answer([{ Effect: 'Allow', Action: '*', Resource: '*' }], { context: { big: 'x'.repeat(9000) } }),
      500,
    ],
  ])('%s is refused with its status', (_, outcome, status) => {
    expect(decide(outcome, ARN)).toMatchObject({ allow: false, status });
  });
});

describe('request templates', () => {
  const render = (template: string, body = '{}') =>
    renderTemplate(template, { body, context: { connectionId: 'c1=' }, stageVariables: {} });

  test('$util.escapeJavaScript escapes as Java does, single quotes included', () => {
    expect(render(`$util.escapeJavaScript($input.body)`, `it's "x"/\\\n\té`)).toBe(
      `it\\'s \\"x\\"\\/\\\\\\n\\t\\u00E9`,
    );
  });

  test('$util.urlEncode is form encoding; urlDecode and base64 round-trip', () => {
    expect(render(`$util.urlEncode("a b!*~'()")`)).toBe('a+b%21*%7E%27%28%29');
    expect(render(`$util.urlDecode("a+b%21")`)).toBe('a b!');
    expect(render(`$util.base64Decode($util.base64Encode("héllo"))`)).toBe('héllo');
  });

  test('$input.json gives JSON, $input.path objects, missing paths are null/empty', () => {
    const body = JSON.stringify({ a: { list: [1, { b: 'x' }] }, 'odd key': true });
    expect(render(`$input.json('$.a.list[1]')`, body)).toBe('{"b":"x"}');
    expect(render(`$input.json("$['odd key']")`, body)).toBe('true');
    expect(render(`$input.json('$.missing')`, body)).toBe('null');
    expect(render(`#set($a = $input.path('$.a'))$a.list[1].b`, body)).toBe('x');
    expect(render(`$context.connectionId`)).toBe('c1=');
  });
});
