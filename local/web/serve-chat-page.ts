import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { buildSync } from 'esbuild';

/**
 * Serves the chat page at `/` (its TypeScript bundled by esbuild once, on first request). With sign-in on,
 * the page asks the local issuer for a token and carries it where the authorizer looks (`signIn`).
 */
export function chatPageServer(
  stage: string,
  signIn: 'none' | 'query' | 'header' = 'none',
): (req: IncomingMessage, res: ServerResponse) => boolean {
  let page: { html: string; script: Uint8Array } | undefined;
  const load = () => {
    const html = readFileSync(join(__dirname, 'index.html'), 'utf8')
      .replace('__STAGE__', stage)
      .replace('__SIGN_IN__', signIn);
    const { outputFiles } = buildSync({
      entryPoints: [join(__dirname, 'chat.ts')],
      bundle: true,
      write: false,
      format: 'iife',
      target: 'es2022',
      minify: true,
    });
    return { html, script: outputFiles[0]!.contents };
  };
  return (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' || (path !== '/' && path !== '/chat.js')) return false;
    page ??= load();
    if (path === '/') res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(page.html);
    else res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' }).end(page.script);
    return true;
  };
}
