import { execFile, execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { DEFAULT_CONNECTION_LIFETIME_SECONDS } from '../../layers/chat-core/src/config';
import { buildTemplate } from '../../tools/build';
import { functionProperties, loadTemplate, resourcesOfType, type Template } from '../../tools/template';
import { TEMPLATE_PATH } from '../support/test-table';

const ROOT = join(__dirname, '..', '..');
const execFileAsync = promisify(execFile);
const template = loadTemplate(TEMPLATE_PATH);
const resources = template.Resources;
const functionIds = resourcesOfType(template, 'AWS::Serverless::Function').map(([id]) => id);
const refTo = (id: string) => ({ Ref: id });

/** Why the stage would keep serving old routes after a `sam deploy` that changes them. */
function deploymentProblems(t: Template): string[] {
  const problems = resourcesOfType(t, 'AWS::ApiGatewayV2::Deployment').map(
    ([id]) => `${id}: a hand-made deployment is created once and never again`,
  );
  for (const [id, stage] of resourcesOfType(t, 'AWS::ApiGatewayV2::Stage')) {
    if (stage.Properties?.AutoDeploy !== true) problems.push(`${id}: AutoDeploy is not true`);
    if (stage.Properties?.DeploymentId !== undefined) problems.push(`${id}: names a DeploymentId`);
  }
  return problems;
}

interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
}
type ConditionalStatement = Statement | { 'Fn::If': [string, Statement, unknown] };
/** A function's policy statements; one under `!If [Condition, statement, !Ref AWS::NoValue]` as if it held. */
const statementsOf = (id: string) =>
  ((resources[id]!.Properties!.Policies as { Statement: ConditionalStatement[] }[]) ?? [])
    .flatMap((p) => p.Statement)
    .map((s) => ('Fn::If' in s ? s['Fn::If'][1] : s));
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
      'members',
      'send',
      'typing',
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
      // The stage's first automatic deployment must have every route.
      expect(resources.Stage!.DependsOn).toContain(routeId);
    },
  );

  test('the stage deploys itself on every change, with throttles and logs; outputs give both URLs', () => {
    expect(deploymentProblems(template)).toEqual([]);
    const stage = resources.Stage!.Properties!;
    expect(stage).toMatchObject({ ApiId: refTo('ChatApi'), StageName: refTo('StageName') });
    const defaults = stage.DefaultRouteSettings as Record<string, unknown>;
    const perRoute = stage.RouteSettings as Record<string, Record<string, unknown>>;
    expect(Object.keys(perRoute).sort()).toEqual(['$connect', 'join']);
    for (const settings of [defaults, ...Object.values(perRoute)]) {
      expect(settings).toMatchObject({ LoggingLevel: 'ERROR', DataTraceEnabled: false });
    }
    for (const settings of Object.values(perRoute)) {
      expect(settings.ThrottlingRateLimit).toBeLessThan(defaults.ThrottlingRateLimit as number);
      expect(settings.ThrottlingBurstLimit).toBeLessThan(defaults.ThrottlingBurstLimit as number);
    }
    expect(JSON.stringify(template.Outputs)).toContain(
      'wss://${ChatApi}.execute-api.${AWS::Region}.amazonaws.com/${StageName}',
    );
    expect(JSON.stringify(template.Outputs)).toContain(
      'https://${ChatApi}.execute-api.${AWS::Region}.amazonaws.com/${StageName}/@connections',
    );
  });

  test('a hand-made deployment or a stage without AutoDeploy is caught', () => {
    const drifted = structuredClone(template);
    drifted.Resources.Deployment = {
      Type: 'AWS::ApiGatewayV2::Deployment',
      Properties: { ApiId: refTo('ChatApi') },
    };
    drifted.Resources.Stage!.Properties = {
      ...drifted.Resources.Stage!.Properties,
      AutoDeploy: false,
      DeploymentId: refTo('Deployment'),
    };
    expect(deploymentProblems(drifted)).toEqual([
      'Deployment: a hand-made deployment is created once and never again',
      'Stage: AutoDeploy is not true',
      'Stage: names a DeploymentId',
    ]);
  });

  test('access logs are one JSON line per event, in a log group with a retention period', () => {
    const { DestinationArn, Format } = resources.Stage!.Properties!.AccessLogSettings as {
      DestinationArn: { 'Fn::GetAtt': string[] };
      Format: string;
    };
    const [groupId] = DestinationArn['Fn::GetAtt'];
    expect(resources[groupId!]!.Type).toBe('AWS::Logs::LogGroup');
    expect(resources[groupId!]!.Properties!.RetentionInDays).toEqual(refTo('LogRetentionInDays'));
    const fields = JSON.parse(Format) as Record<string, string>;
    expect(Object.values(fields)).toEqual(
      expect.arrayContaining([
        '$context.requestId',
        '$context.connectionId',
        '$context.eventType',
        '$context.routeKey',
        '$context.status',
      ]),
    );
    // API Gateway writes execution logs to this group; made by the stack, it has a retention period.
    expect(resources.ExecutionLogGroup!.Properties).toEqual({
      LogGroupName: { 'Fn::Sub': '/aws/apigateway/${ChatApi}/${StageName}' },
      RetentionInDays: refTo('LogRetentionInDays'),
    });
    expect(resources.Stage!.DependsOn).toEqual(
      expect.arrayContaining(['ExecutionLogGroup', 'ApiGatewayAccount']),
    );
  });
});

describe('functions', () => {
  const layerPackage = JSON.parse(readFileSync(join(ROOT, 'layers/chat-core/package.json'), 'utf8'))
    .name as string;

  // What `make build-<Id>` runs, as SAM runs it (ARTIFACTS_DIR set, in WorkingDirectory).
  const makeCommands = (id: string) =>
    execFileSync('make', ['--dry-run', '--makefile', join(ROOT, 'Makefile'), `build-${id}`], {
      cwd: ROOT,
      env: { ...process.env, ARTIFACTS_DIR: '/artifacts' },
      encoding: 'utf8',
    });
  const sameFolder = { BuildMethod: 'makefile', ContextPath: '.', WorkingDirectory: '.' };

  test.each(functionIds)(
    '%s: the Makefile bundles its CodeUri for its runtime, leaving out the layer',
    (id) => {
      const props = functionProperties(template, id);
      expect(resources[id]!.Metadata).toEqual(sameFolder);
      expect(props.Runtime).toMatch(/^nodejs(22|24)\.x$/);
      expect(props.Architectures).toEqual(['arm64']);
      // SAM copies CodeUri once per build: it holds only the handler's sources.
      const codeUri = props.CodeUri as string;
      expect(readdirSync(join(ROOT, codeUri))).toContain('index.ts');
      expect(readdirSync(join(ROOT, codeUri)).every((file) => file.endsWith('.ts'))).toBe(true);
      expect(readFileSync(join(ROOT, codeUri, 'index.ts'), 'utf8')).toContain(`from '${layerPackage}'`);
      expect(props.Handler).toBe('index.handler');
      const command = makeCommands(id);
      expect(command).toContain(` ${codeUri}/index.ts `);
      expect(command).toContain('--outfile="/artifacts/index.js"');
      expect(command).toContain(`--target=node${(props.Runtime as string).match(/\d+/)![0]} `);
      expect(command).toContain(`--external:${layerPackage} `);
      expect(command).toContain("'--external:@aws-sdk/*'");
      // Source maps are only read with --enable-source-maps.
      expect(command).toContain('--sourcemap ');
      expect((props.Environment as { Variables: Record<string, string> }).Variables.NODE_OPTIONS).toContain(
        '--enable-source-maps',
      );
      expect(props.Layers).toEqual([refTo('ChatCoreLayer')]);
    },
  );

  test('the Makefile bundles the layer into nodejs/node_modules/<package>', () => {
    const layer = resources.ChatCoreLayer!;
    expect(layer.Metadata).toEqual({ ...sameFolder, BuildArchitecture: 'arm64' });
    expect(layer.Properties).toMatchObject({
      CompatibleRuntimes: ['nodejs22.x'],
      CompatibleArchitectures: ['arm64'],
    });
    const command = makeCommands('ChatCoreLayer');
    expect(command).toContain(' layers/chat-core/src/index.ts ');
    expect(command).toContain(`--outfile="/artifacts/nodejs/node_modules/${layerPackage}/index.js"`);
    expect(command).toContain('--target=node22 ');
  });

  test("samconfig.toml does not turn on SAM's cache, whose key misses the lockfile and esbuild", () => {
    expect(readFileSync(join(ROOT, 'samconfig.toml'), 'utf8')).not.toMatch(/^\s*cached\s*=\s*true/m);
  });

  test("npm run build makes, file for file, what SAM's makefile builder makes; no bundle holds the layer or the SDK", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'chat-build-'));
    const filesOf = (root: string): string[] =>
      readdirSync(root, { recursive: true, withFileTypes: true })
        .filter((entry) => entry.isFile())
        .map((entry) => relative(root, join(entry.parentPath, entry.name)))
        .sort();
    try {
      const ids = [...functionIds, 'ChatCoreLayer'];
      // As SAM runs it: `make --makefile <ContextPath>/Makefile build-<Id>` in WorkingDirectory, into
      // .aws-sam/build/<Id> (as deep as .build/functions/<Id>, so the maps' relative paths match too).
      // All at once, beside our build: each is a separate esbuild process.
      const samDir = (id: string) => join(dir, '.aws-sam', 'build', id);
      const [built] = await Promise.all([
        buildTemplate(TEMPLATE_PATH, join(dir, 'build')),
        ...ids.map((id) =>
          execFileAsync('make', ['--makefile', join(ROOT, 'Makefile'), `build-${id}`], {
            cwd: ROOT,
            env: { ...process.env, ARTIFACTS_DIR: samDir(id) },
          }),
        ),
      ]);
      for (const id of ids) {
        const ours = id === 'ChatCoreLayer' ? built.layers.ChatCoreLayer! : built.functions[id]!.codeDir;
        expect(filesOf(ours)).toEqual(filesOf(samDir(id)));
        for (const file of filesOf(samDir(id))) {
          expect(readFileSync(join(ours, file))).toEqual(readFileSync(join(samDir(id), file)));
        }
      }
      for (const id of functionIds) {
        expect(filesOf(built.functions[id]!.codeDir)).toEqual(['index.js', 'index.js.map']);
        const bundle = readFileSync(join(built.functions[id]!.codeDir, 'index.js'), 'utf8');
        expect(bundle).toContain('require("chat-core")');
        expect(bundle).not.toMatch(/electrodb|ApiGatewayManagementApiClient/);
      }
      expect(filesOf(built.layers.ChatCoreLayer!)).toEqual(
        ['index.js', 'index.js.map', 'package.json'].map((f) => join('nodejs/node_modules', layerPackage, f)),
      );
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
    'MembersFunction',
    'TypingFunction',
    'FanoutFunction',
    'BatcherFunction',
  ];
  /** Actions beyond DynamoDB and ManageConnections, each on one resource of this template only. */
  const others: Record<string, unknown> = {
    'lambda:InvokeFunction': [
      { 'Fn::GetAtt': ['FanoutFunction', 'Arn'] },
      { 'Fn::GetAtt': ['BatcherFunction', 'Arn'] },
    ],
    'sqs:SendMessage': { 'Fn::GetAtt': ['FanoutFailureQueue', 'Arn'] },
  };

  test.each(functionIds)('%s: no wildcard action, DynamoDB only on the table and its index', (id) => {
    for (const statement of statementsOf(id)) {
      expect(statement.Effect).toBe('Allow');
      expect(resourcesOf(statement)).not.toContain('*');
      for (const action of actions(statement)) {
        if (action in others)
          expect([others[action]].flat()).toEqual(expect.arrayContaining(resourcesOf(statement)));
        else expect(action).toMatch(/^(dynamodb:[A-Za-z]+|execute-api:ManageConnections)$/);
      }
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
    // Removing a gone connection (every fan-out may meet one) queries its partition and deletes its items.
    const cleanup = ['dynamodb:DeleteItem', 'dynamodb:Query'];
    // The request token bucket and the room count live on the connection item.
    const limited = ['dynamodb:GetItem', 'dynamodb:UpdateItem'];
    expect(dynamo('ConnectFunction')).toEqual(['dynamodb:PutItem']);
    expect(dynamo('DisconnectFunction')).toEqual(cleanup);
    // ping records that the connection is alive.
    expect(dynamo('DefaultFunction')).toEqual(['dynamodb:UpdateItem']);
    // A members answer reads the listed members' connection items in batches.
    const listing = [...limited, 'dynamodb:BatchGetItem', ...cleanup];
    expect(dynamo('JoinFunction')).toEqual([...listing, 'dynamodb:PutItem'].sort());
    expect(dynamo('MembersFunction')).toEqual(listing.sort());
    // The typing throttle is one conditional update of the membership.
    expect(dynamo('TypingFunction')).toEqual(['dynamodb:UpdateItem', ...cleanup].sort());
    expect(dynamo('SendFunction')).toEqual([...limited, 'dynamodb:PutItem', ...cleanup].sort());
    // Closing a batching window (an update), reading its messages; gone members removed.
    expect(dynamo('BatcherFunction')).toEqual(['dynamodb:UpdateItem', ...cleanup].sort());
    expect(dynamo('HistoryFunction')).toEqual(['dynamodb:GetItem', 'dynamodb:Query']);
    expect(dynamo('LeaveFunction')).toEqual([...limited, ...cleanup].sort());
  });
});

test('the table has TTL, point-in-time recovery and encryption, and outlives the stack', () => {
  expect(resources.ChatTable).toMatchObject({
    DeletionPolicy: 'Retain',
    UpdateReplacePolicy: 'Retain',
    Properties: {
      BillingMode: 'PAY_PER_REQUEST',
      DeletionProtectionEnabled: true,
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      SSESpecification: { SSEEnabled: true },
    },
  });
});

describe('limits', () => {
  const parameters = template.Parameters as Record<string, { Default: number; MinValue?: number }>;

  test.each(functionIds)('%s logs to its own group, which has a retention period', (id) => {
    const { LoggingConfig } = functionProperties(template, id) as {
      LoggingConfig: { LogGroup: { Ref: string } };
    };
    const group = resources[LoggingConfig.LogGroup.Ref]!;
    expect(group.Type).toBe('AWS::Logs::LogGroup');
    expect(group.Properties!.RetentionInDays).toEqual(refTo('LogRetentionInDays'));
    const owners = functionIds.filter(
      (other) =>
        JSON.stringify(functionProperties(template, other).LoggingConfig) === JSON.stringify(LoggingConfig),
    );
    expect(owners).toEqual([id]);
  });

  test('every function has reserved concurrency from a parameter (0 leaves it out)', () => {
    expect(parameters.FunctionConcurrencyLimit).toMatchObject({ Type: 'Number', MinValue: 0 });
    expect(parameters.FunctionConcurrencyLimit!.Default).toBeGreaterThan(0);
    expect(template.Conditions?.CapsConcurrency).toEqual({
      'Fn::Not': [{ 'Fn::Equals': [refTo('FunctionConcurrencyLimit'), 0] }],
    });
    for (const id of functionIds) {
      expect(functionProperties(template, id).ReservedConcurrentExecutions).toEqual({
        'Fn::If': ['CapsConcurrency', refTo('FunctionConcurrencyLimit'), refTo('AWS::NoValue')],
      });
    }
  });

  test('connection items live at least as long as API Gateway lets a connection live (2 hours)', () => {
    // Nothing refreshes expiresAt on activity, so a shorter lifetime would drop live members from fan-out.
    const lifetime = parameters.ConnectionLifetimeSeconds!;
    expect(lifetime.MinValue).toBe(2 * 60 * 60);
    expect(lifetime.Default).toBe(DEFAULT_CONNECTION_LIFETIME_SECONDS);
    expect(DEFAULT_CONNECTION_LIFETIME_SECONDS).toBeGreaterThan(lifetime.MinValue!);
  });
});
