// `npm start`: the whole chat service on this machine. `npm run dev`: the same, rebuilt on change.
import { watch } from 'node:fs';
import { parseArgs } from 'node:util';
import { startLocalStack } from './local-stack';

const USAGE = `usage: npm start -- [--port 3001] [--template template.yaml] [--db-path DIR] [--verbose]
                      [--idle-timeout 10m] [--max-connection 2h] [--watch]`;

/** `500ms`, `5s`, `10m`, `2h` or plain milliseconds. */
export function parseDuration(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!match) throw new Error(`"${text}" is not a duration (e.g. 500ms, 5s, 10m, 2h)`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match[2] ?? 'ms']!;
  return Math.round(Number(match[1]) * unit);
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

  console.log(`WebSocket URL: ${stack.webSocketUrl}`);
  console.log(`Connections URL: ${stack.connectionsUrl}`);
  console.log(`DynamoDB endpoint: ${stack.dynamoDb.endpoint.replace('127.0.0.1', 'localhost')}`);
  console.log(`Chat page: ${stack.pageUrl}`);
  console.log(`Try: npx wscat -c '${stack.webSocketUrl}?name=Ada'   then   {"action":"join","room":"room1"}`);

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
