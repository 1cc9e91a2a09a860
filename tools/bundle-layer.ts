// Bundles a layer package (its src/index.ts) into <out>/nodejs/node_modules/<name>/, the folder
// Lambda puts on the module path. SAM cannot esbuild layers, so the layer's Makefile calls this.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';

export async function bundleLayer(layerDir: string, artifactsDir: string): Promise<string> {
  const pkg = JSON.parse(readFileSync(join(layerDir, 'package.json'), 'utf8')) as {
    name: string;
    version: string;
  };
  const outDir = join(artifactsDir, 'nodejs', 'node_modules', pkg.name);
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  await build({
    entryPoints: [join(layerDir, 'src', 'index.ts')],
    outfile: join(outDir, 'index.js'),
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node22',
    minify: true,
    // Mappings only: stack traces still point into the sources; embedding them tripled the map's size.
    sourcemap: true,
    sourcesContent: false,
    // The Lambda Node.js runtime ships AWS SDK v3.
    external: ['@aws-sdk/*'],
    logLevel: 'warning',
  });
  writeFileSync(
    join(outDir, 'package.json'),
    `${JSON.stringify({ name: pkg.name, version: pkg.version, main: 'index.js' }, null, 2)}\n`,
  );
  return outDir;
}

if (require.main === module) {
  const [layerDir, artifactsDir] = process.argv.slice(2);
  if (!layerDir || !artifactsDir) {
    console.error('usage: tsx tools/bundle-layer.ts <layer dir> <artifacts dir>');
    process.exit(2);
  }
  bundleLayer(resolve(layerDir), resolve(artifactsDir)).catch((error: Error) => {
    console.error(error.message);
    process.exit(1);
  });
}
