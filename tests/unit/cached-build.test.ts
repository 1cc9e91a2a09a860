// The build cache that test workers, bench servers and `npm run invoke` share: several processes may
// ask for a build at once, and files may be edited while a build is in use.
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cachedBuild } from '../../local/cached-build';

const TEMPLATE = `
Resources:
  HelloFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: hello
      Handler: index.handler
      Runtime: nodejs22.x
    Metadata:
      BuildMethod: makefile
`;
const MAKEFILE = 'build-HelloFunction:\n\tcp index.js "$(ARTIFACTS_DIR)/index.js"\n';

let dir: string;
let template: string;
let cache: string;
const builtCode = (codeDir: string) => readFileSync(join(codeDir, 'index.js'), 'utf8');

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cached-build-'));
  template = join(dir, 'template.yaml');
  cache = join(dir, '.build');
  await mkdir(join(dir, 'hello'));
  await writeFile(template, TEMPLATE);
  await writeFile(join(dir, 'hello', 'Makefile'), MAKEFILE);
  await writeFile(join(dir, 'hello', 'index.js'), 'exports.handler = async () => 1;\n');
});

afterEach(() => rm(dir, { recursive: true, force: true }));

test('two builds asked for at once (jest workers, bench servers) share one complete build', async () => {
  const [a, b] = await Promise.all([cachedBuild(template, cache), cachedBuild(template, cache)]);
  expect(a.functions.HelloFunction!.codeDir).toBe(b.functions.HelloFunction!.codeDir);
  expect(builtCode(a.functions.HelloFunction!.codeDir)).toBe('exports.handler = async () => 1;\n');
  const again = await cachedBuild(template, cache);
  expect(again).toMatchObject({ reused: true, functions: a.functions });
});

test('a file the build does not read leaves the build alone; a changed source makes a new one beside it', async () => {
  const first = await cachedBuild(template, cache);
  await writeFile(join(dir, 'notes.md'), 'not a build input');
  expect(await cachedBuild(template, cache)).toMatchObject({ reused: true, functions: first.functions });

  await writeFile(join(dir, 'hello', 'index.js'), 'exports.handler = async () => 22;\n');
  const second = await cachedBuild(template, cache);
  expect(second.reused).toBe(false);
  expect(builtCode(second.functions.HelloFunction!.codeDir)).toBe('exports.handler = async () => 22;\n');
  // A stack started on the first build can still start its function cold.
  expect(builtCode(first.functions.HelloFunction!.codeDir)).toBe('exports.handler = async () => 1;\n');
});
