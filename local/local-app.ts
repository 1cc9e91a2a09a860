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
  name: string;
  resource: Resource;
}

export interface WebSocketApiSpec {
  logicalId: string;
  apiId: string;
  routeSelectionExpression: string;
  /** Route key → the logical id of the function its integration invokes. */
  routes: Record<string, string>;
  /** Routes whose function's `body` is sent back to the client (a `$default` route response). */
  twoWayRoutes: string[];
  stageName: string;
}

/** A SAM template as the local stack runs it: built code, local table names, resolved wiring. */
export interface LocalApp {
  template: Template;
  build: BuildResult;
  tables: LocalTable[];
  functions: Record<string, FunctionSpec>;
  webSocketApis: WebSocketApiSpec[];
}

export interface LocalAppOptions {
  templatePath: string;
  buildDir?: string;
  parameterOverrides?: Record<string, string>;
  /** Local names of tables (logical id → name); by default the logical id. */
  tableNames?: Record<string, string>;
  /** Variables every function gets, over the template's (e.g. the DynamoDB Local endpoint). */
  extraEnvironment?: Record<string, string>;
}

/** API Gateway ids are 10 lowercase letters and digits; derived from the logical id so they stay stable. */
export function localApiId(logicalId: string): string {
  return createHash('sha256')
    .update(logicalId)
    .digest('hex')
    .replace(/[^a-z0-9]/g, '')
    .slice(0, 10);
}

function resolution(template: Template, options: LocalAppOptions): LocalResolution {
  const region = LOCAL_AWS_ENV.AWS_REGION;
  const account = LOCAL_ACCOUNT_ID;
  const refs: Record<string, string> = {};
  const attributes: Record<string, string> = {};
  for (const [id, resource] of Object.entries(template.Resources)) {
    const props = resource.Properties ?? {};
    switch (resource.Type) {
      case 'AWS::DynamoDB::Table': {
        const name = options.tableNames?.[id] ?? id;
        refs[id] = name;
        attributes[`${id}.Arn`] = `arn:aws:dynamodb:${region}:${account}:table/${name}`;
        attributes[`${id}.StreamArn`] = `${attributes[`${id}.Arn`]}/stream/local`;
        break;
      }
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
      default:
        refs[id] = `local-${id}`;
        attributes[`${id}.Arn`] = `arn:aws:local:${region}:${account}:${id}`;
    }
  }
  const parameters = parameterValues(template, options.parameterOverrides);
  return { region, accountId: account, stackName: 'local', parameters, refs, attributes };
}

function functionSpec(
  template: Template,
  resolver: IntrinsicResolver,
  build: BuildResult,
  logicalId: string,
  extraEnvironment: Record<string, string>,
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
    timeoutSeconds: Number(props.Timeout ?? 3),
    memoryMB: Number(props.MemorySize ?? 128),
    sourceMaps: built.sourceMaps || /--enable-source-maps/.test(environment.NODE_OPTIONS ?? ''),
    runtime: String(props.Runtime ?? 'nodejs22.x'),
  };
}

/** The function a route's integration reaches: `...functions/${Fn.Arn}/invocations` or a plain ARN. */
function integrationFunction(template: Template, integration: Resource): string | undefined {
  const uri = JSON.stringify(integration.Properties?.IntegrationUri ?? '');
  return resourcesOfType(template, 'AWS::Serverless::Function')
    .map(([id]) => id)
    .find((id) => uri.includes(`\${${id}.Arn}`) || uri.includes(`"${id}"`));
}

function webSocketApis(template: Template, resolver: IntrinsicResolver): WebSocketApiSpec[] {
  const refersTo = (value: unknown, id: string) => JSON.stringify(value) === JSON.stringify({ Ref: id });
  return resourcesOfType(template, 'AWS::ApiGatewayV2::Api')
    .filter(([, api]) => api.Properties?.ProtocolType === 'WEBSOCKET')
    .map(([apiLogicalId, api]) => {
      const routes: Record<string, string> = {};
      const twoWayRoutes: string[] = [];
      const routeResponses = resourcesOfType(template, 'AWS::ApiGatewayV2::RouteResponse');
      for (const [routeId, route] of resourcesOfType(template, 'AWS::ApiGatewayV2::Route')) {
        if (!refersTo(route.Properties?.ApiId, apiLogicalId)) continue;
        const routeKey = String(route.Properties?.RouteKey);
        if (
          route.Properties?.RouteResponseSelectionExpression === '$default' &&
          routeResponses.some(
            ([, r]) =>
              refersTo(r.Properties?.RouteId, routeId) && r.Properties?.RouteResponseKey === '$default',
          )
        ) {
          twoWayRoutes.push(routeKey);
        }
        const target = JSON.stringify(route.Properties?.Target ?? '');
        const integrationId = resourcesOfType(template, 'AWS::ApiGatewayV2::Integration')
          .map(([id]) => id)
          .find((id) => target.includes(`\${${id}}`) || target.includes(`"${id}"`));
        const functionId = integrationId && integrationFunction(template, template.Resources[integrationId]!);
        if (!functionId) throw new Error(`route ${routeId} does not reach a function of this template`);
        routes[routeKey] = functionId;
      }
      const stage = resourcesOfType(template, 'AWS::ApiGatewayV2::Stage').find(([, s]) =>
        refersTo(s.Properties?.ApiId, apiLogicalId),
      );
      return {
        logicalId: apiLogicalId,
        apiId: resolver.ref(apiLogicalId),
        routeSelectionExpression: String(api.Properties?.RouteSelectionExpression ?? '$request.body.action'),
        routes,
        twoWayRoutes,
        stageName: stage ? String(resolver.resolve(stage[1].Properties?.StageName)) : 'local',
      };
    });
}

/** Builds the template's code and resolves everything the local stack needs to run it. */
export async function loadLocalApp(options: LocalAppOptions): Promise<LocalApp> {
  const template = loadTemplate(options.templatePath);
  const build = await cachedBuild(options.templatePath, options.buildDir ?? DEFAULT_BUILD_DIR);
  const resolver = new IntrinsicResolver(template, resolution(template, options));
  const tables = resourcesOfType(template, 'AWS::DynamoDB::Table').map(([logicalId, resource]) => ({
    logicalId,
    name: resolver.ref(logicalId),
    resource,
  }));
  const functions = Object.fromEntries(
    resourcesOfType(template, 'AWS::Serverless::Function').map(([id]) => [
      id,
      functionSpec(template, resolver, build, id, options.extraEnvironment ?? {}),
    ]),
  );
  return { template, build, tables, functions, webSocketApis: webSocketApis(template, resolver) };
}
