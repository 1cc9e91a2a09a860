// The template's sign-in wiring for each AuthMode: which resources exist (their Conditions, evaluated
// by the local stack's resolver), the authorizer on $connect, its permission, and the Cognito pool.
import { IntrinsicResolver, parameterValues } from '../../local/intrinsics';
import { loadTemplate, type Resource } from '../../tools/template';
import { TEMPLATE_PATH } from '../support/test-table';

const template = loadTemplate(TEMPLATE_PATH);
const AUTH_RESOURCES = ['AuthorizeFunction', 'AuthorizeLogGroup', 'ConnectAuthorizer', 'AuthorizePermission'];
const COGNITO_RESOURCES = ['UserPool', 'UserPoolClient'];

function resolverFor(parameters: Record<string, string>) {
  return new IntrinsicResolver(template, {
    region: 'us-east-1',
    accountId: '123456789012',
    stackName: 'chat',
    parameters: parameterValues(template, parameters),
    refs: {
      ChatApi: 'api1',
      ConnectIntegration: 'int1',
      ConnectAuthorizer: 'auth123',
      UserPool: 'us-east-1_pool',
      UserPoolClient: 'client1',
    },
    attributes: {},
  });
}

/** The resources (and outputs) that exist in a stack made with these parameters. */
function stackWith(parameters: Record<string, string>) {
  const resolver = resolverFor(parameters);
  const exists = (entry: { Condition?: unknown }) =>
    entry.Condition === undefined || resolver.condition(String(entry.Condition));
  const outputs = template.Outputs as Record<string, { Condition?: string }>;
  return {
    resolver,
    resources: Object.keys(template.Resources).filter((id) => exists(template.Resources[id]!)),
    outputs: Object.keys(outputs).filter((name) => exists(outputs[name]!)),
  };
}

const resource = (id: string): Resource => template.Resources[id]!;

test('AuthMode offers none, cognito and jwt, none by default', () => {
  const parameters = template.Parameters as Record<string, { Default?: unknown; AllowedValues?: unknown }>;
  expect(parameters.AuthMode).toMatchObject({ Default: 'none', AllowedValues: ['none', 'cognito', 'jwt'] });
  expect(parameters.AuthTokenSource).toMatchObject({ Default: 'query', AllowedValues: ['query', 'header'] });
  for (const name of ['JwtIssuer', 'JwtAudience', 'JwtJwksUri']) expect(parameters[name]).toBeDefined();
});

test('none creates no authorizer and no user pool, and $connect is open', () => {
  const { resources, outputs, resolver } = stackWith({});
  for (const id of [...AUTH_RESOURCES, ...COGNITO_RESOURCES]) expect(resources).not.toContain(id);
  expect(outputs).not.toContain('UserPoolId');
  const route = resolver.resolve(resource('ConnectRoute').Properties) as Record<string, unknown>;
  expect(route.AuthorizationType).toBe('NONE');
  expect(route).not.toHaveProperty('AuthorizerId');
});

test.each([
  ['cognito', { AuthMode: 'cognito' }],
  ['jwt', { AuthMode: 'jwt', JwtIssuer: 'https://issuer.example.com', JwtAudience: 'app' }],
])('%s puts the REQUEST authorizer on $connect, allowed to invoke its function', (mode, parameters) => {
  const { resources, outputs, resolver } = stackWith(parameters);
  for (const id of AUTH_RESOURCES) expect(resources).toContain(id);
  const cognito = mode === 'cognito';
  for (const id of COGNITO_RESOURCES) expect(resources.includes(id)).toBe(cognito);
  expect(outputs.includes('UserPoolId') && outputs.includes('UserPoolClientId')).toBe(cognito);

  const route = resolver.resolve(resource('ConnectRoute').Properties) as Record<string, unknown>;
  expect(route).toMatchObject({ AuthorizationType: 'CUSTOM', AuthorizerId: 'auth123' });
  const authorizer = resource('ConnectAuthorizer').Properties!;
  expect(authorizer).toMatchObject({ ApiId: { Ref: 'ChatApi' }, AuthorizerType: 'REQUEST' });
  expect(JSON.stringify(authorizer.AuthorizerUri)).toContain('${AuthorizeFunction.Arn}/invocations');
  // WebSocket authorizers take no TTL (AuthorizerResultTtlInSeconds is for HTTP APIs only).
  expect(authorizer).not.toHaveProperty('AuthorizerResultTtlInSeconds');
  expect(resolver.resolve(authorizer.IdentitySource)).toEqual(['route.request.querystring.token']);
  expect(
    resolverFor({ ...parameters, AuthTokenSource: 'header' }).resolve(authorizer.IdentitySource),
  ).toEqual(['route.request.header.Sec-WebSocket-Protocol']);

  const permission = resource('AuthorizePermission').Properties!;
  expect(permission).toMatchObject({
    Action: 'lambda:InvokeFunction',
    FunctionName: { Ref: 'AuthorizeFunction' },
    Principal: 'apigateway.amazonaws.com',
  });
  expect(JSON.stringify(permission.SourceArn)).toContain('/authorizers/${ConnectAuthorizer}');

  const variables = resolver.resolve(
    (resource('AuthorizeFunction').Properties!.Environment as { Variables: unknown }).Variables,
  );
  expect(variables).toEqual(
    cognito
      ? { AUTH_USER_POOL_ID: 'us-east-1_pool', AUTH_ISSUER: '', AUTH_AUDIENCE: 'client1', AUTH_JWKS_URI: '' }
      : {
          AUTH_USER_POOL_ID: '',
          AUTH_ISSUER: 'https://issuer.example.com',
          AUTH_AUDIENCE: 'app',
          AUTH_JWKS_URI: '',
        },
  );
  // The authorizer reads nothing from the table.
  expect(resource('AuthorizeFunction').Properties!.Policies).toBeUndefined();
});

test('the Cognito app client is public (no secret: browsers sign in) and the pool names its users', () => {
  expect(resource('UserPoolClient').Properties).toMatchObject({
    UserPoolId: { Ref: 'UserPool' },
    GenerateSecret: false,
  });
  expect(resource('UserPool').Properties!.Schema).toEqual(
    expect.arrayContaining([expect.objectContaining({ Name: 'name', Required: true })]),
  );
});
