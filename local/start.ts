// `npm start`: the whole chat service on this machine. `npm run dev`: the same, rebuilt on change.
import { watch } from 'node:fs';
import { createServer } from 'node:net';
import { parseArgs } from 'node:util';
import { type LocalStack, startLocalStack } from './local-stack';

const USAGE = `usage: npm start -- [--port 3001] [--template template.yaml] [--db-path DIR] [--verbose]
                      [--idle-timeout 10m] [--max-connection 2h] [--watch]
                      [--auth [--token-in-header]]
                      [--connections-latency 20ms | 10ms-30ms] [--connections-rate 10000[:5000]]
                      [--parameter Name=Value ...]`;

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

/** `--parameter Name=Value` flags: template parameter values, as `sam deploy --parameter-overrides`. */
export function parseParameters(flags: string[]): Record<string, string> {
  return Object.fromEntries(
    flags.map((flag) => {
      const match = /^([A-Za-z0-9]+)=(.*)$/.exec(flag);
      if (!match) throw new Error(`--parameter "${flag}": expected Name=Value (e.g. BatchWindowMs=200)`);
      return [match[1]!, match[2]!];
    }),
  );
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

/** Whether `port` can be listened on at `host` (false when another process has it). */
function portIsFree(port: number, host: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', (error: NodeJS.ErrnoException) =>
      error.code === 'EADDRINUSE' ? resolve(false) : reject(error),
    );
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}

/** What answers on a taken port: this project's gateway (the chat page, or API Gateway's 404) or not. */
async function looksLikeLocalGateway(port: number, host: string): Promise<boolean> {
  try {
    const response = await fetch(`http://${host}:${port}/`, { signal: AbortSignal.timeout(2000) });
    const body = await response.text();
    return body.includes('<title>Chat rooms</title>') || body === '{"message":"Not Found"}';
  } catch {
    return false;
  }
}

/** Says at once that the port is taken, by what it seems, and which free port to use instead. */
async function portTakenMessage(port: number, host: string): Promise<string> {
  let free: number | undefined;
  for (let candidate = port + 1; candidate < port + 20 && candidate <= 65535 && !free; candidate++) {
    if (await portIsFree(candidate, host)) free = candidate;
  }
  const what = (await looksLikeLocalGateway(port, host))
    ? `another \`npm start\` (or \`npm run dev\`) seems to be running there: its gateway answers at http://localhost:${port}/`
    : 'another program is listening there';
  return (
    `Port ${port} is taken: ${what}.\n` +
    `Stop it, or start on another port: npm start -- --port ${free ?? '<N>'}`
  );
}

/** The flags, or a message that says what was wrong and shows the usage. */
function parseFlags() {
  try {
    return parseArgs({
      options: {
        port: { type: 'string', short: 'p', default: process.env.PORT ?? '3001' },
        template: { type: 'string', short: 't', default: 'template.yaml' },
        'db-path': { type: 'string' },
        verbose: { type: 'boolean', short: 'v', default: false },
        'idle-timeout': { type: 'string' },
        'max-connection': { type: 'string' },
        watch: { type: 'boolean', default: false },
        auth: { type: 'boolean', default: false },
        'token-in-header': { type: 'boolean', default: false },
        'connections-latency': { type: 'string' },
        'connections-rate': { type: 'string' },
        parameter: { type: 'string', multiple: true },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }).values;
  } catch (error) {
    const { code, message } = error as NodeJS.ErrnoException;
    if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
      const word = /'([^']*)'/.exec(message)?.[1] ?? '';
      const hint = /^\d+$/.test(word)
        ? `to pick the port, run: npm start -- --port ${word}`
        : 'options go after a double dash: npm start -- --port N';
      throw new Error(`npm start takes no argument "${word}": ${hint}\n${USAGE}`);
    }
    if (code?.startsWith('ERR_PARSE_ARGS')) throw new Error(`${message}\n${USAGE}`);
    throw error;
  }
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
export function banner(stack: LocalStack, data: string): string[] {
  const lines = Object.entries(stack.outputs).map(([name, value]) => `${name}: ${value}`);
  lines.push(`WebSocket URL: ${stack.webSocketUrl}`);
  lines.push(`Connections URL: ${stack.connectionsUrl} (SigV4-signed requests only, local credentials)`);
  lines.push(`DynamoDB endpoint: ${stack.dynamoDb.endpoint.replace('127.0.0.1', 'localhost')}`);
  lines.push(data);
  if (stack.dynamoDb.exposure) lines.push(`warning: ${stack.dynamoDb.exposure}`);
  if (stack.issuer) {
    lines.push(`Sign-in: on (AuthMode jwt), local issuer ${stack.issuer.issuer}`);
    lines.push(`Token: npm run -s token -- --name Ada   (POST ${stack.pageUrl}auth/token {"name":"Ada"})`);
  }
  if (stack.servesChatPage) {
    lines.push(`Chat page: ${stack.pageUrl}`);
    // With sign-in the shell must expand the token command: double quotes.
    const url = stack.issuer
      ? `"${stack.webSocketUrl}?token=$(npm run -s token -- --name Ada${stack.port === 3001 ? '' : ` --port ${stack.port}`})"`
      : `'${stack.webSocketUrl}?name=Ada'`;
    lines.push(`Try: npx wscat -c ${url}   then   {"action":"join","room":"room1"}`);
  } else {
    const message = sampleMessage(stack);
    lines.push(`Try: npx wscat -c '${stack.webSocketUrl}'${message ? `   then   ${message}` : ''}`);
  }
  return lines;
}

async function main(): Promise<void> {
  const values = parseFlags();
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`--port must be a port number\n${USAGE}`);
  // Before the build and DynamoDB Local, which take a while: a taken port is known at once.
  const host = '127.0.0.1';
  if (port !== 0 && !(await portIsFree(port, host))) throw new Error(await portTakenMessage(port, host));
  const stack = await startLocalStack({
    port,
    templatePath: values.template,
    verbose: values.verbose,
    ...(values.auth
      ? { auth: { tokenSource: values['token-in-header'] ? ('header' as const) : ('query' as const) } }
      : {}),
    ...(values['db-path'] ? { dbPath: values['db-path'] } : {}),
    ...(values['idle-timeout'] ? { idleTimeoutMs: parseDuration(values['idle-timeout']) } : {}),
    ...(values['max-connection'] ? { maxConnectionMs: parseDuration(values['max-connection']) } : {}),
    ...(values['connections-latency']
      ? { connectionsLatency: parseLatency(values['connections-latency']) }
      : {}),
    ...(values['connections-rate'] ? { connectionsRate: parseRate(values['connections-rate']) } : {}),
    ...(values.parameter ? { parameterOverrides: parseParameters(values.parameter) } : {}),
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

  const data = values['db-path']
    ? `Data: kept in ${values['db-path']} (DynamoDB Local on disk)`
    : process.env.AWS_ENDPOINT_URL_DYNAMODB
      ? 'Data: in the DynamoDB Local of AWS_ENDPOINT_URL_DYNAMODB'
      : 'Data: in memory, lost when this stops; to keep it, start with: npm start -- --db-path .build/db';
  for (const line of banner(stack, data)) console.log(line);

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
