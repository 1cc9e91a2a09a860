// `npm run test:stress -- [--runs 3] [--hogs N] [-- <jest arguments>]`: the whole suite (`npm test`)
// run after run while a CPU hog keeps every core busy, to prove the tests wait for states and events,
// not for moments. The hog is started and stopped here. With jest arguments after `--`, runs
// `jest <arguments>` instead of `npm test` (e.g. `-- --selectProjects unit` to try the script quickly).
import { type ChildProcess, spawn } from 'node:child_process';
import { availableParallelism, loadavg } from 'node:os';
import { parseArgs } from 'node:util';

const USAGE = 'usage: npm run test:stress -- [--runs 3] [--hogs <cores>] [-- <jest arguments>]';

/** A process that spins one core until it is killed. */
function startHog(): ChildProcess {
  return spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' });
}

/** Runs the command with the terminal's output; resolves with its exit code and duration. */
function run(command: string, args: string[]): Promise<{ code: number; seconds: number }> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: 'inherit' });
    child.on('exit', (code, signal) =>
      resolve({ code: code ?? (signal ? 1 : 0), seconds: (Date.now() - started) / 1000 }),
    );
  });
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      runs: { type: 'string', default: '3' },
      hogs: { type: 'string', default: String(availableParallelism()) },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const runs = Number(values.runs);
  const hogCount = Number(values.hogs);
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs must be a whole number >= 1\n${USAGE}`);
  if (!Number.isInteger(hogCount) || hogCount < 0)
    throw new Error(`--hogs must be a whole number >= 0\n${USAGE}`);
  const [command, args] = positionals.length > 0 ? ['npx', ['jest', ...positionals]] : ['npm', ['test']];
  const what = `${command} ${args.join(' ')}`;

  const hogs = Array.from({ length: hogCount }, startHog);
  const stopHogs = () => {
    for (const hog of hogs) hog.kill('SIGKILL');
  };
  // Ctrl-C reaches the test run too (same process group); the hogs must not outlive this script.
  let interrupted = false;
  const interrupt = () => {
    interrupted = true;
    stopHogs();
  };
  process.on('SIGINT', interrupt);
  process.on('SIGTERM', interrupt);
  const results: { code: number; seconds: number }[] = [];
  try {
    console.log(
      `test:stress: ${runs} run(s) of \`${what}\` with ${hogCount} CPU hog(s) on ${availableParallelism()} cores`,
    );
    for (let i = 1; i <= runs && !interrupted; i++) {
      const result = await run(command, args);
      results.push(result);
      const load = loadavg()[0]!.toFixed(1);
      console.log(
        `\ntest:stress: run ${i}/${runs} ${result.code === 0 ? 'passed' : `FAILED (exit ${result.code})`} in ${result.seconds.toFixed(0)} s (load average ${load})\n`,
      );
    }
  } finally {
    stopHogs();
  }
  const failures = results.filter((r) => r.code !== 0).length;
  const times = results.map((r) => r.seconds.toFixed(0)).join(', ');
  const slowest = Math.max(...results.map((r) => r.seconds)).toFixed(0);
  console.log(
    `test:stress: runs ${results.length}, failures ${failures}, times ${times} s (slowest ${slowest} s), ` +
      `${hogCount} hog(s), \`${what}\``,
  );
  return failures === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: Error) => {
    console.error(error.message);
    process.exit(2);
  },
);
