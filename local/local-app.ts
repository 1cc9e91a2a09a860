import { createHash } from 'node:crypto';
import { type BuildResult, DEFAULT_BUILD_DIR } from '../tools/build';
import {
  functionProperties,
  loadTemplate,
  type Resource,
  resourcesOfType,
  type Template,
} from '../tools/template';
import { cachedBuild } from './cached-build';
import { LOCAL_AWS_ENV } from './dynamodb';
import { IntrinsicResolver, type LocalResolution, parameterValues } from './intrinsics';
import type { FunctionSpec } from './lambda/local-function';

export const LOCAL_ACCOUNT_ID = '123456789012';

export interface LocalTable {
  logicalId: string;
  /** The name the template gives it (`TableName`), else its logical id, or the name a test chose. */
  name: string;
  /** The resource with its intrinsics resolved for the local stack. */
  resource: Resource;
}

/** A Lambda REQUEST authorizer (`AWS::ApiGatewayV2::Authorizer`) on `$connect`. */
export interface AuthorizerSpec {
  logicalId: string;
  name: string;
  functionId: string;
  /** `route.request.header.X` / `route.request.querystring.X` */
  identitySources: string[];
}

/** How a route reaches its function: as a proxy, or (`AWS`) through request templates. */
export interface IntegrationSpec {
  type: 'AWS_PROXY' | 'AWS';
  functionId: string;
  /** Template key → Velocity template (`AWS` integrations). */
  requestTemplates: Record<string, string>;
  templateSelectionExpression?: string;
  passthroughBehavior: 'WHEN_NO_MATCH' | 'WHEN_NO_TEMPLATES' | 'NEVER';
}

/** A stage's throttle for a route: a token bucket of `burstLimit` tokens refilled at `rateLimit` per second. */
export interface ThrottleSettings {
  burstLimit: number;
  rateLimit: number;
}

export interface RouteSpec {
  integration: IntegrationSpec;
  /** The function's answer goes back to the client (a `$default` route response). */
  twoWay: boolean;
  authorizer?: AuthorizerSpec;
  throttle: ThrottleSettings;
}

export interface WebSocketApiSpec {
  logicalId: string;
  apiId: string;
  routeSelectionExpression: string;
  routes: Record<string, RouteSpec>;
  stageName: string;
  stageVariables: Record<string, string>;
}

/** A SAM template as the local stack runs it: built code, local table names, resolved wiring. */
export interface LocalApp {
  template: Template;
  build: BuildResult;
  tables: LocalTable[];
  functions: Record<string, FunctionSpec>;
  webSocketApis: WebSocketApiSpec[];
  /** The template's Outputs, resolved for the local stack (a value that cannot be: its reason). */
  outputs: Record<string, string>;
}

export interface LocalAppOptions {
  templatePath: string;
  buildDir?: string;
  parameterOverrides?: Record<string, string>;
  /** Local names of tables (logical id → name); by default the logical id. */
  tableNames?: Record<string, string>;
  /** Variables every function gets, over the template's (e.g. the DynamoDB Local endpoint). */
  extraEnvironment?: Record<string, string>;
  /**
   * Each function's Timeout times this (default 1). The local runtime's Timeout runs on the wall clock,
   * which a machine whose cores are shared many ways stretches; tests there stretch the limit alike.
   */
  functionTimeoutScale?: number;
}

/** API Gateway ids are 10 lowercase letters and digits; derived from the logical id so they stay stable. */
export function localApiId(logicalId: string): string {
  return createHash('sha256')
    .update(logicalId)
    .digest('hex')
    .replace(/[^a-z0-9]/g, '')
    .slice(0, 10);
}

const TABLE_TYPES = ['AWS::DynamoDB::Table', 'AWS::Serverless::SimpleTable'];

/** A short id in API Gateway's style (routes, integrations, authorizers), stable per logical id. */
function localResourceId(logicalId: string, length: number): string {
  return localApiId(`resource:${logicalId}`).slice(0, length);
}

function resolution(template: Template, options: LocalAppOptions): LocalResolution {
  const region = LOCAL_AWS_ENV.AWS_REGION;
  const account = LOCAL_ACCOUNT_ID;
  const parameters = parameterValues(template, options.parameterOverrides);
  const base = { region, accountId: account, stackName: 'local', parameters };
  // Table names may use parameters and pseudo parameters (`!Ref TableName`, `!Sub ${AWS::StackName}-x`).
  const names = new IntrinsicResolver(template, { ...base, refs: {}, attributes: {} });
  const refs: Record<string, string> = {};
  const attributes: Record<string, string> = {};
  for (const [id, resource] of Object.entries(template.Resources)) {
    const props = resource.Properties ?? {};
    if (TABLE_TYPES.includes(resource.Type)) {
      const name =
        options.tableNames?.[id] ?? (props.TableName ? String(names.resolve(props.TableName)) : id);
      refs[id] = name;
      attributes[`${id}.Arn`] = `arn:aws:dynamodb:${region}:${account}:table/${name}`;
      attributes[`${id}.StreamArn`] = `${attributes[`${id}.Arn`]}/stream/local`;
      continue;
    }
    switch (resource.Type) {
      case 'AWS::Serverless::Function': {
        const name = typeof props.FunctionName === 'string' ? props.FunctionName : id;
        refs[id] = name;
        attributes[`${id}.Arn`] = `arn:aws:lambda:${region}:${account}:function:${name}`;
        break;
      }
      case 'AWS::Serverless::LayerVersion':
        refs[id] = `arn:aws:lambda:${region}:${account}:layer:${id}:1`;
        break;
      case 'AWS::ApiGatewayV2::Api': {
        const apiId = localApiId(id);
        refs[id] = apiId;
        attributes[`${id}.ApiId`] = apiId;
        attributes[`${id}.ApiEndpoint`] = `wss://${apiId}.execute-api.${region}.amazonaws.com`;
        break;
      }
      case 'AWS::ApiGatewayV2::Route':
      case 'AWS::ApiGatewayV2::Integration':
      case 'AWS::ApiGatewayV2::Authorizer':
        refs[id] = localResourceId(id, 7);
        break;
      case 'AWS::ApiGatewayV2::Stage':
        refs[id] = String(names.resolve(props.StageName ?? id));
        break;
      default:
        refs[id] = `local-${id}`;
        attributes[`${id}.Arn`] = `arn:aws:local:${region}:${account}:${id}`;
    }
  }
  return { ...base, refs, attributes };
}

/** The Lambda runtimes the local stack runs, on this machine's Node.js and python3. */
const SUPPORTED_RUNTIMES = /^(nodejs(18|20|22|24)\.x|python3\.\d+)$/;

function functionSpec(
  template: Template,
  resolver: IntrinsicResolver,
  build: BuildResult,
  logicalId: string,
  extraEnvironment: Record<string, string>,
  timeoutScale: number,
): FunctionSpec {
  const props = resolver.resolve(functionProperties(template, logicalId)) as Record<string, unknown>;
  const layerArns = (props.Layers as string[] | undefined) ?? [];
  const layerDirs = layerArns.map((arn) => {
    const layerId = Object.keys(build.layers).find((id) => resolver.ref(id) === arn);
    if (!layerId) throw new Error(`${logicalId}: layer ${arn} is not defined in this template`);
    return build.layers[layerId]!;
  });
  const variables = ((props.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables ??
    {}) as Record<string, unknown>;
  const runtime = String(props.Runtime ?? 'nodejs22.x');
  if (!SUPPORTED_RUNTIMES.test(runtime))
    throw new Error(
      `${logicalId}: Runtime ${runtime} is not supported by the local stack (nodejs18.x to nodejs24.x, python3.x)`,
    );
  const built = build.functions[logicalId]!;
  // Like `sam local invoke --env-vars`, the local stack's variables override the template's.
  const environment: Record<string, string> = {
    ...LOCAL_AWS_ENV,
    ...Object.fromEntries(Object.entries(variables).map(([key, value]) => [key, String(value)])),
    ...extraEnvironment,
  };
  return {
    name: resolver.ref(logicalId),
    codeDir: built.codeDir,
    handler: built.handler,
    layerDirs,
    environment,
    timeoutSeconds: Number(props.Timeout ?? 3) * timeoutScale,
    memoryMB: Number(props.MemorySize ?? 128),
    sourceMaps: built.sourceMaps || /--enable-source-maps/.test(environment.NODE_OPTIONS ?? ''),
    runtime,
    async: asyncConfig(props.EventInvokeConfig),
  };
}

/** SAM's EventInvokeConfig as Lambda applies it: two retries unless told otherwise. */
function asyncConfig(config: unknown): FunctionSpec['async'] {
  const { MaximumRetryAttempts, DestinationConfig } = (config ?? {}) as {
    MaximumRetryAttempts?: unknown;
    DestinationConfig?: { OnFailure?: { Destination?: unknown } };
  };
  const destination = DestinationConfig?.OnFailure?.Destination;
  return {
    maximumRetryAttempts: MaximumRetryAttempts === undefined ? 2 : Number(MaximumRetryAttempts),
    ...(destination === undefined ? {} : { onFailure: String(destination) }),
  };
}

/** API Gateway's account-level throttle, what a stage without settings of its own gets. */
export const ACCOUNT_THROTTLE: ThrottleSettings = { burstLimit: 5000, rateLimit: 10_000 };

/** The template's function that a Lambda URI (`...functions/${Fn.Arn}/invocations` or a plain ARN) names. */
function lambdaFunction(template: Template, uri: unknown): string | undefined {
  const text = JSON.stringify(uri ?? '');
  return resourcesOfType(template, 'AWS::Serverless::Function')
    .map(([id]) => id)
    .find((id) => text.includes(`\${${id}.Arn}`) || text.includes(`"${id}"`) || text.includes(`"${id}.Arn"`));
}

/** The logical id a `!Ref X`, `!Sub prefix/${X}` or `X` value names, among `candidates`. */
function referencedId(value: unknown, candidates: string[]): string | undefined {
  const text = JSON.stringify(value ?? '');
  return candidates.find((id) => text.includes(`\${${id}}`) || text.includes(`"${id}"`));
}

const refersTo = (value: unknown, id: string) => JSON.stringify(value) === JSON.stringify({ Ref: id });

function integrationSpec(template: Template, routeId: string, integrationId: string): IntegrationSpec {
  const props = template.Resources[integrationId]?.Properties ?? {};
  const type = String(props.IntegrationType);
  if (type !== 'AWS_PROXY' && type !== 'AWS') {
    throw new Error(
      `${routeId}: integration ${integrationId} has IntegrationType ${type}, which the local stack does not run ` +
        '(it runs AWS_PROXY and AWS integrations to Lambda functions of the template)',
    );
  }
  const functionId = lambdaFunction(template, props.IntegrationUri);
  if (!functionId) {
    throw new Error(
      `${routeId}: integration ${integrationId} does not invoke a Lambda function of this template ` +
        `(IntegrationUri ${JSON.stringify(props.IntegrationUri)})`,
    );
  }
  const passthrough = String(props.PassthroughBehavior ?? 'WHEN_NO_MATCH');
  if (!['WHEN_NO_MATCH', 'WHEN_NO_TEMPLATES', 'NEVER'].includes(passthrough))
    throw new Error(`${integrationId}: unknown PassthroughBehavior ${passthrough}`);
  return {
    type,
    functionId,
    requestTemplates: (props.RequestTemplates as Record<string, string> | undefined) ?? {},
    ...(props.TemplateSelectionExpression
      ? { templateSelectionExpression: String(props.TemplateSelectionExpression) }
      : {}),
    passthroughBehavior: passthrough as IntegrationSpec['passthroughBehavior'],
  };
}

function authorizerSpec(
  template: Template,
  resolver: IntrinsicResolver,
  authorizerId: string,
): AuthorizerSpec {
  const props = (resolver.resolve(template.Resources[authorizerId]?.Properties ?? {}) ?? {}) as Record<
    string,
    unknown
  >;
  if (props.AuthorizerType !== 'REQUEST')
    throw new Error(
      `${authorizerId}: AuthorizerType ${String(props.AuthorizerType)} is not supported (WebSocket APIs take REQUEST authorizers)`,
    );
  const functionId = lambdaFunction(template, template.Resources[authorizerId]?.Properties?.AuthorizerUri);
  if (!functionId)
    throw new Error(`${authorizerId}: AuthorizerUri does not name a Lambda function of this template`);
  const sources = (props.IdentitySource as string[] | undefined) ?? [];
  for (const source of sources) {
    if (!/^route\.request\.(header|querystring)\.[^.]+$/.test(source))
      throw new Error(
        `${authorizerId}: identity source ${source} is not supported (route.request.header.X or route.request.querystring.X)`,
      );
  }
  return {
    logicalId: authorizerId,
    name: String(props.Name ?? authorizerId),
    functionId,
    identitySources: sources,
  };
}

type RouteThrottle = { ThrottlingBurstLimit?: unknown; ThrottlingRateLimit?: unknown } | undefined;

function throttleOf(settings: RouteThrottle, fallback: ThrottleSettings): ThrottleSettings {
  return {
    burstLimit:
      settings?.ThrottlingBurstLimit === undefined
        ? fallback.burstLimit
        : Number(settings.ThrottlingBurstLimit),
    rateLimit:
      settings?.ThrottlingRateLimit === undefined ? fallback.rateLimit : Number(settings.ThrottlingRateLimit),
  };
}

function webSocketApis(template: Template, resolver: IntrinsicResolver): WebSocketApiSpec[] {
  const integrationIds = resourcesOfType(template, 'AWS::ApiGatewayV2::Integration').map(([id]) => id);
  const authorizerIds = resourcesOfType(template, 'AWS::ApiGatewayV2::Authorizer').map(([id]) => id);
  const routeResponses = resourcesOfType(template, 'AWS::ApiGatewayV2::RouteResponse');
  return resourcesOfType(template, 'AWS::ApiGatewayV2::Api')
    .filter(([, api]) => api.Properties?.ProtocolType === 'WEBSOCKET')
    .map(([apiLogicalId, api]) => {
      const stage = resourcesOfType(template, 'AWS::ApiGatewayV2::Stage').find(([, s]) =>
        refersTo(s.Properties?.ApiId, apiLogicalId),
      );
      const stageProps = (stage ? resolver.resolve(stage[1].Properties ?? {}) : {}) as Record<
        string,
        unknown
      >;
      const stageThrottle = throttleOf(stageProps.DefaultRouteSettings as RouteThrottle, ACCOUNT_THROTTLE);
      const routeSettings = (stageProps.RouteSettings as Record<string, RouteThrottle> | undefined) ?? {};
      const routes: Record<string, RouteSpec> = {};
      for (const [routeId, route] of resourcesOfType(template, 'AWS::ApiGatewayV2::Route')) {
        if (!refersTo(route.Properties?.ApiId, apiLogicalId)) continue;
        const props = route.Properties ?? {};
        const routeKey = String(props.RouteKey);
        const twoWay =
          props.RouteResponseSelectionExpression === '$default' &&
          routeResponses.some(
            ([, r]) =>
              refersTo(r.Properties?.RouteId, routeId) && r.Properties?.RouteResponseKey === '$default',
          );
        const integrationId = referencedId(props.Target, integrationIds);
        if (!integrationId)
          throw new Error(`route ${routeId} does not reach an integration of this template`);
        const authorization = String(resolver.resolve(props.AuthorizationType ?? 'NONE'));
        let authorizer: AuthorizerSpec | undefined;
        if (authorization === 'CUSTOM') {
          if (routeKey !== '$connect')
            throw new Error(`route ${routeId}: API Gateway allows an authorizer on $connect only`);
          const authorizerRef = resolver.resolve(props.AuthorizerId);
          const authorizerId = authorizerIds.find((id) => resolver.ref(id) === authorizerRef);
          if (!authorizerId)
            throw new Error(`route ${routeId}: AuthorizerId names no authorizer of this template`);
          authorizer = authorizerSpec(template, resolver, authorizerId);
        } else if (authorization !== 'NONE') {
          throw new Error(
            `route ${routeId}: AuthorizationType ${authorization} is not supported by the local stack (NONE or CUSTOM)`,
          );
        }
        routes[routeKey] = {
          integration: integrationSpec(template, routeId, integrationId),
          twoWay,
          ...(authorizer ? { authorizer } : {}),
          throttle: throttleOf(routeSettings[routeKey], stageThrottle),
        };
      }
      return {
        logicalId: apiLogicalId,
        apiId: resolver.ref(apiLogicalId),
        routeSelectionExpression: String(api.Properties?.RouteSelectionExpression ?? '$request.body.action'),
        routes,
        stageName: stage ? String(stageProps.StageName) : 'local',
        stageVariables: Object.fromEntries(
          Object.entries((stageProps.StageVariables as Record<string, unknown> | undefined) ?? {}).map(
            ([key, value]) => [key, String(value)],
          ),
        ),
      };
    });
}

/** The template without the resources and outputs whose `Condition` is false for these parameters. */
function withoutDisabledResources(template: Template, options: LocalAppOptions): Template {
  const conditions = new IntrinsicResolver(template, {
    region: LOCAL_AWS_ENV.AWS_REGION,
    accountId: LOCAL_ACCOUNT_ID,
    stackName: 'local',
    parameters: parameterValues(template, options.parameterOverrides),
    refs: {},
    attributes: {},
  });
  const enabled = (entry: { Condition?: unknown }) =>
    entry.Condition === undefined || conditions.condition(String(entry.Condition));
  const outputs = (template.Outputs ?? {}) as Record<string, { Condition?: unknown }>;
  return {
    ...template,
    Resources: Object.fromEntries(Object.entries(template.Resources).filter(([, r]) => enabled(r))),
    Outputs: Object.fromEntries(Object.entries(outputs).filter(([, o]) => enabled(o))),
  };
}

/** Builds the template's code and resolves everything the local stack needs to run it. */
export async function loadLocalApp(options: LocalAppOptions): Promise<LocalApp> {
  const template = withoutDisabledResources(loadTemplate(options.templatePath), options);
  const build = await cachedBuild(options.templatePath, options.buildDir ?? DEFAULT_BUILD_DIR);
  const resolver = new IntrinsicResolver(template, resolution(template, options));
  const tables = TABLE_TYPES.flatMap((type) => resourcesOfType(template, type)).map(
    ([logicalId, resource]) => ({
      logicalId,
      name: resolver.ref(logicalId),
      resource: {
        ...resource,
        Properties: resolver.resolve(resource.Properties ?? {}) as Record<string, unknown>,
      },
    }),
  );
  const functions = Object.fromEntries(
    resourcesOfType(template, 'AWS::Serverless::Function').map(([id]) => [
      id,
      functionSpec(
        template,
        resolver,
        build,
        id,
        options.extraEnvironment ?? {},
        options.functionTimeoutScale ?? 1,
      ),
    ]),
  );
  const outputs = Object.fromEntries(
    Object.entries((template.Outputs ?? {}) as Record<string, { Value?: unknown }>).map(([name, output]) => {
      try {
        return [name, String(resolver.resolve(output.Value))];
      } catch (error) {
        return [name, `(not resolvable locally: ${(error as Error).message})`];
      }
    }),
  );
  return { template, build, tables, functions, webSocketApis: webSocketApis(template, resolver), outputs };
}
