import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';

const ASSETS: Record<string, string> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'application/javascript; charset=utf-8',
  'swagger-ui-standalone-preset.js': 'application/javascript; charset=utf-8',
};

const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Bastion API</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/assets/swagger-ui-standalone-preset.js"></script>
<script>window.ui = SwaggerUIBundle({ url: '/docs/json', dom_id: '#swagger-ui', persistAuthorization: false });</script>
</body></html>`;

/**
 * OpenAPI at /docs (UI) and /docs/json. The UI's three files are served straight from swagger-ui-dist:
 * Swagger's own Fastify static serving pulls in an ESM-only dependency that Jest on Node 20 cannot load.
 */
export function setupDocs(app: NestFastifyApplication): void {
  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('Bastion')
      .setDescription('AI gateway, cost monitoring, market data and agents for trading bots')
      .setVersion('0.1.0')
      .addBearerAuth()
      .addApiKey({ type: 'apiKey', name: 'X-API-Key', in: 'header' }, 'X-API-Key')
      .build(),
  );
  const distDir = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
  const files = new Map(Object.keys(ASSETS).map((name) => [name, readFileSync(join(distDir, name))]));
  const fastify = app.getHttpAdapter().getInstance();
  const json = JSON.stringify(document);
  fastify.get('/docs', (_req, reply) => reply.type('text/html; charset=utf-8').send(PAGE));
  fastify.get('/docs/json', (_req, reply) => reply.type('application/json').send(json));
  fastify.get<{ Params: { file: string } }>('/docs/assets/:file', (req, reply) => {
    const body = files.get(req.params.file);
    if (!body) return reply.code(404).send({ statusCode: 404, error: 'Not Found', message: 'No such asset' });
    return reply.type(ASSETS[req.params.file]).header('cache-control', 'public, max-age=86400').send(body);
  });
}
