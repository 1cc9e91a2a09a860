import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildTemplate } from '../../tools/build';
import { functionProperties, loadTemplate, resourcesOfType } from '../../tools/template';
import { TEMPLATE_PATH } from '../support/test-table';

const ROOT = join(__dirname, '..', '..');
const template = loadTemplate(TEMPLATE_PATH);
const resources = template.Resources;
const functionIds = resourcesOfType(template, 'AWS::Serverless::Function').map(([id]) => id);
const refTo = (id: string) => ({ Ref: id });

interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
}
const statementsOf = (id: string) =>
  ((resources[id]!.Properties!.Policies as { Statement: Statement[] }[]) ?? []).flatMap((p) => p.Statement);
const actions = (s: Statement) => (Array.isArray(s.Action) ? s.Action : [s.Action]);
const resourcesOf = (s: Statement) => (Array.isArray(s.Resource) ? s.Resource : [s.Resource]);

describe('routes', () => {
  const routes = resourcesOfType(template, 'AWS::ApiGatewayV2::Route');

  test('the API routes its actions by $request.body.action', () => {
    expect(resources.ChatApi!.Properties).toMatchObject({
      ProtocolType: 'WEBSOCKET',
      RouteSelectionExpression: '$request.body.action',
    });
    expect(routes.map(([, r]) => r.Properties!.RouteKey).sort()).toEqual([
      '$connect',
      '$default',
      '$disconnect',
      'history',
      'join',
      'leave',
      'send',
    ]);
  });

  test.each(routes.map(([id, r]) => [r.Properties!.RouteKey as string, id]))(
    'route %s has an AWS_PROXY integration, a function and a permission',
    (routeKey, routeId) => {
      const route = resources[routeId]!.Properties!;
      expect(route.ApiId).toEqual(refTo('ChatApi'));
      const integrationId = /^integrations\/\$\{(\w+)\}$/.exec(
        (route.Target as { 'Fn::Sub': string })['Fn::Sub'],
      )?.[1];
      const integration = resources[integrationId!]!;
      expect(integration.Type).toBe('AWS::ApiGatewayV2::Integration');
      expect(integration.Properties).toMatchObject({ ApiId: refTo('ChatApi'), IntegrationType: 'AWS_PROXY' });
      const uri = (integration.Properties!.IntegrationUri as { 'Fn::Sub': string })['Fn::Sub'];
      const functionId = /functions\/\$\{(\w+)\.Arn\}\/invocations$/.exec(uri)?.[1];
      expect(functionIds).toContain(functionId);
      const permissions = resourcesOfType(template, 'AWS::Lambda::Permission').filter(
        ([, p]) => JSON.stringify(p.Properties!.FunctionName) === JSON.stringify(refTo(functionId!)),
      );
      expect(permissions).toHaveLength(1);
      expect(permissions[0]![1].Properties).toMatchObject({
        Action: 'lambda:InvokeFunction',
        Principal: 'apigateway.amazonaws.com',
        SourceArn: {
          'Fn::Sub': expect.stringMatching(
            new RegExp(`:\\$\\{ChatApi\\}/\\*/${routeKey.replace('$', '\\$')}$`),
          ),
        },
      });
      expect(resources.Deployment!.DependsOn).toContain(routeId);
    },
  );

  test('a stage deploys the API with throttling and outputs give both URLs', () => {
    expect(resources.Stage!.Properties).toMatchObject({
      ApiId: refTo('ChatApi'),
      StageName: refTo('StageName'),
      DeploymentId: refTo('Deployment'),
      DefaultRouteSettings: {
        ThrottlingBurstLimit: expect.any(Number),
        ThrottlingRateLimit: expect.any(Number),
      },
    });
    expect(JSON.stringify(template.Outputs)).toContain(
      'wss://${ChatApi}.execute-api.${AWS::Region}.amazonaws.com/${StageName}',
    );
    expect(JSON.stringify(template.Outputs)).toContain(
      'https://${ChatApi}.execute-api.${AWS::Region}.amazonaws.com/${StageName}/@connections',
    );
  });
});

describe('functions', () => {
  const layerPackage = JSON.parse(readFileSync(join(ROOT, 'layers/chat-core/package.json'), 'utf8'))
    .name as string;

  test.each(functionIds)('%s: esbuild metadata matches its runtime, handler and layer', (id) => {
    const props = functionProperties(template, id);
    const { BuildMethod, BuildProperties } = resources[id]!.Metadata as {
      BuildMethod: string;
      BuildProperties: {
        EntryPoints: string[];
        External: string[];
        Target: string;
        Minify: boolean;
        Sourcemap: boolean;
      };
    };
    expect(BuildMethod).toBe('esbuild');
    expect(props.Runtime).toMatch(/^nodejs(22|24)\.x$/);
    expect(props.Architectures).toEqual(['arm64']);
    expect(BuildProperties.Target).toBe(`node${(props.Runtime as string).match(/\d+/)![0]}`);
    expect(BuildProperties).toMatchObject({ Minify: true, Sourcemap: true });
    expect(BuildProperties.External).toEqual(expect.arrayContaining([layerPackage, '@aws-sdk/*']));
    const [entry] = BuildProperties.EntryPoints;
    expect(existsSync(join(ROOT, entry!))).toBe(true);
    // esbuild names the bundle after the entry file; the handler must point at it.
    expect(props.Handler).toBe(`${entry!.split('/').pop()!.replace(/\.ts$/, '')}.handler`);
    expect(readFileSync(join(ROOT, entry!), 'utf8')).toContain(`from '${layerPackage}'`);
    expect(props.Layers).toEqual([refTo('ChatCoreLayer')]);
  });

  test('the layer is built by its Makefile into nodejs/node_modules/<package>', () => {
    const layer = resources.ChatCoreLayer!;
    expect(layer.Metadata).toMatchObject({ BuildMethod: 'makefile' });
    const makefile = readFileSync(join(ROOT, layer.Properties!.ContentUri as string, 'Makefile'), 'utf8');
    expect(makefile).toMatch(/^build-ChatCoreLayer:/m);
  });

  test('every function builds, without bundling the layer or the AWS SDK', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'chat-build-'));
    try {
      const built = await buildTemplate(TEMPLATE_PATH, dir);
      for (const id of functionIds) {
        const bundle = readFileSync(join(built.functions[id]!.codeDir, 'index.js'), 'utf8');
        expect(bundle).toContain('require("chat-core")');
        expect(bundle).not.toMatch(/electrodb|ApiGatewayManagementApiClient/);
      }
      expect(
        existsSync(join(built.layers.ChatCoreLayer!, 'nodejs/node_modules', layerPackage, 'index.js')),
      ).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('least-privilege IAM', () => {
  const table = { 'Fn::GetAtt': ['ChatTable', 'Arn'] };
  const index = { 'Fn::Sub': '${ChatTable.Arn}/index/gsi1' };
  const pushers = [
    'DisconnectFunction',
    'DefaultFunction',
    'JoinFunction',
    'SendFunction',
    'LeaveFunction',
    'HistoryFunction',
  ];

  test.each(functionIds)('%s: no wildcard action, DynamoDB only on the table and its index', (id) => {
    for (const statement of statementsOf(id)) {
      expect(statement.Effect).toBe('Allow');
      expect(resourcesOf(statement)).not.toContain('*');
      for (const action of actions(statement))
        expect(action).toMatch(/^(dynamodb:[A-Za-z]+|execute-api:ManageConnections)$/);
      for (const action of actions(statement)) expect(action).not.toMatch(/\*/);
      if (actions(statement).some((a) => a.startsWith('dynamodb:'))) {
        for (const resource of resourcesOf(statement)) expect([table, index]).toContainEqual(resource);
      }
    }
  });

  test.each(functionIds)('%s: ManageConnections only if it pushes, only on this API and stage', (id) => {
    const manage = statementsOf(id).filter((s) => actions(s).includes('execute-api:ManageConnections'));
    if (!pushers.includes(id)) {
      expect(manage).toEqual([]);
      return;
    }
    expect(manage.length).toBeGreaterThan(0);
    for (const resource of manage.flatMap(resourcesOf)) {
      expect(resource).toEqual({
        'Fn::Sub': expect.stringMatching(
          /^arn:\$\{AWS::Partition\}:execute-api:\$\{AWS::Region\}:\$\{AWS::AccountId\}:\$\{ChatApi\}\/\$\{StageName\}\/(POST|GET)\/@connections\/\*$/,
        ),
      });
    }
  });

  test('each function gets exactly the DynamoDB actions it uses', () => {
    const dynamo = (id: string) =>
      statementsOf(id)
        .flatMap(actions)
        .filter((a) => a.startsWith('dynamodb:'))
        .sort();
    const cleanup = ['dynamodb:BatchWriteItem', 'dynamodb:Query'];
    expect(dynamo('ConnectFunction')).toEqual(['dynamodb:PutItem']);
    expect(dynamo('DisconnectFunction')).toEqual(cleanup);
    expect(dynamo('DefaultFunction')).toEqual([]);
    expect(dynamo('JoinFunction')).toEqual(
      ['dynamodb:ConditionCheckItem', 'dynamodb:GetItem', 'dynamodb:PutItem', ...cleanup].sort(),
    );
    expect(dynamo('SendFunction')).toEqual(['dynamodb:GetItem', 'dynamodb:PutItem', ...cleanup].sort());
    expect(dynamo('HistoryFunction')).toEqual(['dynamodb:GetItem', 'dynamodb:Query']);
    expect(dynamo('LeaveFunction')).toEqual(['dynamodb:DeleteItem', ...cleanup].sort());
  });
});

test('the table has TTL, point-in-time recovery and encryption', () => {
  expect(resources.ChatTable!.Properties).toMatchObject({
    BillingMode: 'PAY_PER_REQUEST',
    TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
    PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
    SSESpecification: { SSEEnabled: true },
  });
});
