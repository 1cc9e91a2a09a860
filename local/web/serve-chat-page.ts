import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { buildSync } from 'esbuild';

/** The page's icon: a speech bubble. Browsers ask for /favicon.ico unprompted; both paths serve it. */
const FAVICON = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">
<path fill="#2456c7" d="M4 4h24a3 3 0 0 1 3 3v14a3 3 0 0 1-3 3H14l-7 6v-6H4a3 3 0 0 1-3-3V7a3 3 0 0 1 3-3z"/>
<circle cx="10" cy="14" r="2" fill="#fff"/><circle cx="16" cy="14" r="2" fill="#fff"/>
<circle cx="22" cy="14" r="2" fill="#fff"/></svg>`;

/**
 * Serves the chat page at `/` (its TypeScript bundled by esbuild once, on first request) and its icon.
 * With sign-in on, the page asks the local issuer for a token and carries it where the authorizer looks
 * (`signIn`).
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
    if (req.method !== 'GET') return false;
    if (path === '/favicon.svg' || path === '/favicon.ico') {
      res.writeHead(200, { 'content-type': 'image/svg+xml', 'cache-control': 'max-age=86400' }).end(FAVICON);
      return true;
    }
    if (path !== '/' && path !== '/chat.js') return false;
    page ??= load();
    if (path === '/') res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(page.html);
    else res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' }).end(page.script);
    return true;
  };
}
