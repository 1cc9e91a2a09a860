// `npm start`: the whole chat service on this machine. `npm run dev`: the same, rebuilt on change.
import { watch } from 'node:fs';
import { parseArgs } from 'node:util';
import { type LocalStack, startLocalStack } from './local-stack';

const USAGE = `usage: npm start -- [--port 3001] [--template template.yaml] [--db-path DIR] [--verbose]
                      [--idle-timeout 10m] [--max-connection 2h] [--watch]
                      [--connections-latency 20ms | 10ms-30ms] [--connections-rate 10000[:5000]]`;

/** `500ms`, `5s`, `10m`, `2h` or plain milliseconds. */
export function parseDuration(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!match) throw new Error(`"${text}" is not a duration (e.g. 500ms, 5s, 10m, 2h)`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match[2] ?? 'ms']!;
  return Math.round(Number(match[1]) * unit);
}

/** `20ms` (fixed) or `10ms-30ms` (uniform jitter): the delay of each `@connections` answer. */
export function parseLatency(text: string): { minMs: number; maxMs: number } {
  const [min = '', max = min] = text.split('-');
  const range = { minMs: parseDuration(min), maxMs: parseDuration(max) };
  if (range.maxMs < range.minMs) throw new Error(`--connections-latency "${text}": the range runs backwards`);
  return range;
}

/** `RATE[:BURST]` requests per second (burst defaults to the rate), as API Gateway's throttle takes them. */
export function parseRate(text: string): { rateLimit: number; burstLimit: number } {
  const match = /^(\d+(?:\.\d+)?)(?::(\d+))?$/.exec(text.trim());
  const rateLimit = Number(match?.[1]);
  const burstLimit = match?.[2] === undefined ? Math.max(1, Math.floor(rateLimit)) : Number(match[2]);
  if (!match || rateLimit <= 0 || burstLimit <= 0)
    throw new Error(`--connections-rate "${text}" is not RATE[:BURST] (e.g. 10000:5000)`);
  return { rateLimit, burstLimit };
}

/** A message that selects a route of the API, for the wscat hint (`$request.body.action` → `{"action":"x"}`). */
function sampleMessage(stack: LocalStack): string | undefined {
  const api = stack.app.webSocketApis[0]!;
  const routeKey = Object.keys(api.routes).find((key) => !key.startsWith('$'));
  const path = /^\$request\.body\.([\w.]+)$/.exec(api.routeSelectionExpression)?.[1];
  if (!routeKey || !path) return undefined;
  const message = path
    .split('.')
    .reverse()
    .reduce<unknown>((inner, key) => ({ [key]: inner }), routeKey);
  return JSON.stringify(message);
}

/** What the stack serves: the template's Outputs as they map locally, then the local endpoints. */
export function banner(stack: LocalStack): string[] {
  const lines = Object.entries(stack.outputs).map(([name, value]) => `${name}: ${value}`);
  lines.push(`WebSocket URL: ${stack.webSocketUrl}`);
  lines.push(`Connections URL: ${stack.connectionsUrl} (SigV4-signed requests only, local credentials)`);
  lines.push(`DynamoDB endpoint: ${stack.dynamoDb.endpoint.replace('127.0.0.1', 'localhost')}`);
  if (stack.dynamoDb.exposure) lines.push(`warning: ${stack.dynamoDb.exposure}`);
  if (stack.servesChatPage) {
    lines.push(`Chat page: ${stack.pageUrl}`);
    lines.push(
      `Try: npx wscat -c '${stack.webSocketUrl}?name=Ada'   then   {"action":"join","room":"room1"}`,
    );
  } else {
    const message = sampleMessage(stack);
    lines.push(`Try: npx wscat -c '${stack.webSocketUrl}'${message ? `   then   ${message}` : ''}`);
  }
  return lines;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', short: 'p', default: process.env.PORT ?? '3001' },
      template: { type: 'string', short: 't', default: 'template.yaml' },
      'db-path': { type: 'string' },
      verbose: { type: 'boolean', short: 'v', default: false },
      'idle-timeout': { type: 'string' },
      'max-connection': { type: 'string' },
      watch: { type: 'boolean', default: false },
      'connections-latency': { type: 'string' },
      'connections-rate': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`--port must be a port number\n${USAGE}`);
  const stack = await startLocalStack({
    port,
    templatePath: values.template,
    verbose: values.verbose,
    ...(values['db-path'] ? { dbPath: values['db-path'] } : {}),
    ...(values['idle-timeout'] ? { idleTimeoutMs: parseDuration(values['idle-timeout']) } : {}),
    ...(values['max-connection'] ? { maxConnectionMs: parseDuration(values['max-connection']) } : {}),
    ...(values['connections-latency']
      ? { connectionsLatency: parseLatency(values['connections-latency']) }
      : {}),
    ...(values['connections-rate'] ? { connectionsRate: parseRate(values['connections-rate']) } : {}),
    ...(values.verbose ? {} : { functionLog: () => {} }),
  });
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`\n${signal}: stopping`);
    await stack.stop();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));

  for (const line of banner(stack)) console.log(line);

  if (values.watch) {
    let timer: NodeJS.Timeout | undefined;
    const rebuild = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        stack.reload().then(
          () => console.log('rebuilt: functions reloaded'),
          (error: Error) => console.error(`rebuild failed: ${error.message}`),
        );
      }, 200);
    };
    for (const dir of ['functions', 'layers']) watch(dir, { recursive: true }, rebuild);
    console.log('watching functions/ and layers/ (template changes need a restart)');
  }
}

if (require.main === module) {
  main().catch((error: Error) => {
    console.error(error.message);
    process.exit(1);
  });
}
