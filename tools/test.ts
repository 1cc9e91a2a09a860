// `npm test [-- <jest arguments>]`: the lint, then the type check beside jest. Jest's files mostly wait
// for sockets, child processes and DynamoDB Local, so a core is often free for tsc: side by side they
// take about as long as jest alone. tsc's report is printed after jest's; the run fails if any step does.
import { spawn } from 'node:child_process';

/** Runs a command to its end; `output` keeps what it prints instead of passing it through. */
function run(command: string, args: string[], output?: string[]): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: output ? ['ignore', 'pipe', 'pipe'] : 'inherit' });
    child.stdout?.on('data', (chunk: Buffer) => output?.push(chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => output?.push(chunk.toString()));
    child.on('error', (error) => {
      output?.push(`${command}: ${error.message}\n`);
      resolve(1);
    });
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

async function main(): Promise<number> {
  const lint = await run('npx', ['biome', 'check', '.']);
  if (lint !== 0) return lint;
  const typecheckOutput: string[] = [];
  const typecheck = run('npx', ['tsc', '-p', '.'], typecheckOutput);
  const jest = await run('npx', ['jest', ...process.argv.slice(2)]);
  const typecheckCode = await typecheck;
  process.stdout.write(typecheckOutput.join(''));
  console.log(`type check (tsc -p .): ${typecheckCode === 0 ? 'passed' : `FAILED (exit ${typecheckCode})`}`);
  return jest !== 0 ? jest : typecheckCode;
}

main().then((code) => process.exit(code));
