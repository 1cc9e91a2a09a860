// Node's flags as Lambda's Node.js runtime starts a function (the bootstrap script of AWS's Lambda base
// images): a tenth of the memory size for the young generation (two semi-spaces), the rest for the old.
// The young generation's size sets how often the garbage collector runs, so it weighs on a function's CPU.

export function lambdaNodeFlags(memoryMB: number): string[] {
  const newSpace = Math.floor(memoryMB / 10);
  return [
    '--expose-gc',
    '--max-http-header-size=81920',
    `--max-semi-space-size=${Math.floor(newSpace / 2)}`,
    `--max-old-space-size=${memoryMB - newSpace}`,
  ];
}
