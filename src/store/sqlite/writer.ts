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
import {
  decode,
  encodeAnswers,
  serializeError,
  transferable,
  uncrossable,
  type BatchAnswer,
  type Call,
  type CallResult,
  type FromWriter,
  type ToWriter,
  type WriterOptions,
} from './protocol.js';

function start(port: MessagePort, options: WriterOptions): void {
  const send = (message: FromWriter, transfer: ArrayBuffer[] = []): void => port.postMessage(message, transfer);
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
        runWaitingBatches(message);
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
  const runWaitingBatches = (first: BatchMessage): void => {
    const batches = [readBatch(first)];
    let after: ToWriter | undefined;
    for (let next = receiveMessageOnPort(port); next !== undefined; next = receiveMessageOnPort(port)) {
      const message = next.message as ToWriter;
      if (message.kind !== 'batch') {
        after = message;
        break;
      }
      batches.push(readBatch(message));
    }
    const calls = batches.length === 1 ? batches[0]!.calls : batches.flatMap((batch) => batch.calls);
    const results = core.executeBatch(calls);
    let offset = 0;
    const answers = batches.map(
      (batch): BatchAnswer => ({ id: batch.id, results: batch.failure ? Array.from({ length: batch.count }, () => batch.failure!) : results.slice(offset, (offset += batch.calls.length)) }),
    );
    // One op per result, failed batches included, so an error names the call it belongs to.
    const ops = batches.flatMap((batch) => (batch.failure ? Array.from({ length: batch.count }, () => undefined) : batch.calls.map((call) => call.op)));
    const bytes = encodeAnswers(answers, ops);
    send({ kind: 'batch', ids: answers.map((answer) => answer.id), answers: bytes }, transferable(bytes));
    core.checkpointIfDue(Date.now());
    if (after !== undefined) handle(after);
  };

  port.on('message', handle);
  send({ kind: 'ready' });
}

type BatchMessage = Extract<ToWriter, { kind: 'batch' }>;

interface ReadBatch {
  readonly id: number;
  readonly count: number;
  readonly calls: readonly Call[];
  /** Set when the calls could not be read: every call of the batch gets it, and none runs. */
  readonly failure?: CallResult;
}

/**
 * A batch's calls. Bytes this thread cannot rebuild (a value the caller's thread could serialise
 * but that is too deep for this thread's stack) fail that batch's calls alone: the thread must not
 * die of one caller's value.
 */
function readBatch(message: BatchMessage): ReadBatch {
  try {
    return { id: message.id, count: message.count, calls: decode<Call[]>(message.calls) };
  } catch (error) {
    return { id: message.id, count: message.count, calls: [], failure: { ok: false, error: uncrossable('the arguments of a call', error) } };
  }
}

if (parentPort === null) throw new Error('writer.ts runs as a worker thread, started by store.ts');
start(parentPort, workerData as WriterOptions);
