/**
 * The writer thread: owns the one SQLite connection and runs the batches store.ts sends, one at a
 * time, so every query runs off the event loop. A worker_threads entry point: it does its work at
 * import, which is what a thread's entry is for.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { SqliteCore } from './core.js';
import { serializeError, type FromWriter, type ToWriter, type WriterOptions } from './protocol.js';

function start(port: NonNullable<typeof parentPort>, options: WriterOptions): void {
  const send = (message: FromWriter): void => port.postMessage(message);
  let core: SqliteCore;
  try {
    core = SqliteCore.open(options);
  } catch (error) {
    send({ kind: 'failed', error: serializeError(error) });
    port.close();
    return;
  }

  port.on('message', (message: ToWriter) => {
    switch (message.kind) {
      case 'batch':
        send({ kind: 'batch', results: core.executeBatch(message.calls) });
        break;
      case 'backup':
        core.backup(message.destPath).then(
          () => send({ kind: 'backup', id: message.id }),
          (error: unknown) => send({ kind: 'backup', id: message.id, error: serializeError(error) }),
        );
        break;
      case 'close':
        core.close();
        send({ kind: 'closed' });
        port.close();
        break;
    }
  });
  send({ kind: 'ready' });
}

if (parentPort === null) throw new Error('writer.ts runs as a worker thread, started by store.ts');
start(parentPort, workerData as WriterOptions);
