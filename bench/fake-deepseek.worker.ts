/** Worker-thread entry of the fake DeepSeek (see startFakeDeepSeekWorker in fake-deepseek.ts). */
import { parentPort, workerData } from 'node:worker_threads';
import {
  startFakeDeepSeek,
  type FakeDeepSeekOptions,
  type FakeWorkerCommand,
  type FakeWorkerMessage,
} from './fake-deepseek.js';

const port = parentPort;
if (port === null) throw new Error('fake-deepseek.worker.js must run in a worker thread');
const post = (message: FakeWorkerMessage): void => port.postMessage(message);

startFakeDeepSeek(workerData as FakeDeepSeekOptions).then(
  (fake) => {
    port.on('message', (command: FakeWorkerCommand) => {
      if (command.kind === 'stats') {
        void fake.stats().then((stats) => post({ kind: 'stats', id: command.id, stats }));
      } else {
        void fake.close().then(() => port.close());
      }
    });
    post({ kind: 'ready', url: fake.url });
  },
  (err: unknown) => post({ kind: 'failed', message: err instanceof Error ? err.message : String(err) }),
);
