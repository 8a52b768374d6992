import { createApp } from './app.factory.js';
import { ConfigValidationError } from './config/app-config.js';
import { type ServerConfig, serverConfig } from './config/namespaces.js';

async function bootstrap(): Promise<void> {
  let app;
  try {
    app = await createApp(process.env);
  } catch (err) {
    if (err instanceof ConfigValidationError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  const server = app.get<ServerConfig>(serverConfig.KEY);
  await app.listen(server.port, server.host);
}

void bootstrap();
