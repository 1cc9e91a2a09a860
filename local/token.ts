// `npm run token -- --name Ada`: prints a sign-in token from the local issuer of a running `npm start -- --auth`.
import { parseArgs } from 'node:util';

const USAGE = 'usage: npm run -s token -- --name Ada [--port 3001]';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      name: { type: 'string', short: 'n' },
      port: { type: 'string', short: 'p', default: process.env.PORT ?? '3001' },
    },
  });
  if (!values.name) throw new Error(USAGE);
  const url = `http://localhost:${values.port}/auth/token`;
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: values.name }),
    });
  } catch {
    throw new Error(`nothing answers at ${url}: start the local stack with sign-in (npm start -- --auth)`);
  }
  if (response.status === 404)
    throw new Error(
      `the local stack at port ${values.port} runs without sign-in: restart it with npm start -- --auth`,
    );
  const body = (await response.json()) as { token?: string; message?: string };
  if (!response.ok || !body.token) throw new Error(body.message ?? `the issuer answered ${response.status}`);
  console.log(body.token);
}

main().catch((error: Error) => {
  console.error(error.message);
  process.exit(1);
});
