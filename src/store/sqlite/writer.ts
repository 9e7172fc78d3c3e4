/**
 * The writer thread: owns the one SQLite connection and runs the batches store.ts sends, one at a
 * time, so every query runs off the event loop. A worker_threads entry point: it does its work at
 * import, which is what a thread's entry is for.
 *
 * Batches that arrive while one runs wait in the port; the next run takes all of them at once, as
 * one transaction (one fsync), and answers them in one message.
 */
import { parentPort, receiveMessageOnPort, workerData, type MessagePort } from 'node:worker_threads';
import { SqliteCore } from './core.js';
import { serializeError, type Call, type FromWriter, type ToWriter, type WriterOptions } from './protocol.js';

function start(port: MessagePort, options: WriterOptions): void {
  const send = (message: FromWriter): void => port.postMessage(message);
  let core: SqliteCore;
  try {
    core = SqliteCore.open(options);
  } catch (error) {
    send({ kind: 'failed', error: serializeError(error) });
    port.close();
    return;
  }

  const handle = (message: ToWriter): void => {
    switch (message.kind) {
      case 'batch':
        runWaitingBatches(message.calls);
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
  };

  /** Runs this batch with every batch already waiting behind it, then handles what came after them. */
  const runWaitingBatches = (first: readonly Call[]): void => {
    const batches = [first];
    let after: ToWriter | undefined;
    for (let next = receiveMessageOnPort(port); next !== undefined; next = receiveMessageOnPort(port)) {
      const message = next.message as ToWriter;
      if (message.kind !== 'batch') {
        after = message;
        break;
      }
      batches.push(message.calls);
    }
    const results = core.executeBatch(batches.length === 1 ? first : batches.flat());
    let offset = 0;
    const perBatch = batches.map((calls) => results.slice(offset, (offset += calls.length)));
    send({ kind: 'batch', results: perBatch });
    core.checkpointIfDue(Date.now());
    if (after !== undefined) handle(after);
  };

  port.on('message', handle);
  send({ kind: 'ready' });
}

if (parentPort === null) throw new Error('writer.ts runs as a worker thread, started by store.ts');
start(parentPort, workerData as WriterOptions);
