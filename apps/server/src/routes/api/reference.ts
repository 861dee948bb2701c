/** The interactive API reference page (swagger-ui served from this origin). */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Hono } from 'hono';

/** The interactive API reference (mounted at /api/v1/reference, public): Swagger UI served from our own node_modules, never a CDN. */
export function referenceRoutes() {
  const app = new Hono();
  const dist = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
  const assets: Record<string, { file: string; type: string }> = {
    'swagger-ui.css': { file: 'swagger-ui.css', type: 'text/css; charset=utf-8' },
    'swagger-ui-bundle.js': { file: 'swagger-ui-bundle.js', type: 'text/javascript; charset=utf-8' },
  };
  const cache = new Map<string, Buffer>();

  app.get('/', (c) =>
    c.html(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Anvil API reference</title>
<link rel="stylesheet" href="/api/v1/reference/swagger-ui.css"></head>
<body><div id="ui"></div>
<script src="/api/v1/reference/swagger-ui-bundle.js"></script>
<script src="/api/v1/reference/init.js"></script>
</body></html>`),
  );
  app.get('/init.js', (c) =>
    // validatorUrl null: Swagger UI would otherwise show a badge image from validator.swagger.io,
    // telling it the document's URL (and the page's CSP refuses other origins anyway).
    c.body(
      `window.ui = SwaggerUIBundle({ url: '/api/v1/openapi.json', dom_id: '#ui', persistAuthorization: false, validatorUrl: null });\n`,
      200,
      {
        'content-type': 'text/javascript; charset=utf-8',
      },
    ),
  );
  app.get('/:asset', (c) => {
    const asset = assets[c.req.param('asset')];
    if (!asset) return c.notFound();
    let body = cache.get(asset.file);
    if (!body) cache.set(asset.file, (body = readFileSync(join(dist, asset.file))));
    // Under /api/, so no-store like every API answer (middleware/security-headers.ts).
    return c.body(new Uint8Array(body), 200, { 'content-type': asset.type });
  });
  return app;
}
