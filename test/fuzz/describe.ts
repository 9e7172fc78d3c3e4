/**
 * How a case reads in a fast-check counterexample: bodies run to hundreds of kilobytes and hold
 * invalid bytes, so they are shown as a bounded, escaped preview with their size, depth and hash
 * instead of `Buffer.from([...])`.
 */
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import type { FuzzCase } from './arbitraries.js';
import { maxDepth } from './json-text.js';

/** Printable ASCII as is; everything else as `\xNN` (bytes, not characters: invalid UTF-8 shows). */
export function preview(body: Uint8Array, head = 160, tail = 60): string {
  const show = (bytes: Uint8Array) => [...bytes].map((b) => (b >= 0x20 && b < 0x7f && b !== 0x5c ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`)).join('');
  if (body.length <= head + tail) return show(body);
  return `${show(body.subarray(0, head))}…(${body.length - head - tail} bytes)…${show(body.subarray(body.length - tail))}`;
}

export function describeCase(c: FuzzCase): string {
  const where =
    c.kind === 'legacy'
      ? `legacy ${c.event} (expect ${c.expect})`
      : c.kind === 'signed'
        ? `signed main, events expect [${c.elements.join(',')}] as [${c.elementLabels.join(',')}], signature ${JSON.stringify(c.signing)}, x-kit-delivery ${c.deliveryHeader === undefined ? '(none)' : `${c.deliveryHeader.length} chars`}`
        : `refused ${c.target.kind} ${JSON.stringify({ ...c.target, label: undefined })}`;
  const sha = createHash('sha256').update(c.body).digest('hex').slice(0, 16);
  const meta = `${c.body.length} bytes, depth ${maxDepth(c.body)}, sha256 ${sha}${c.repeat ? ', sent twice' : ''}, content-type ${c.contentType ?? '(none)'}`;
  return `{${where} · ${c.label} · ${meta} · body "${preview(c.body)}"}`;
}

/**
 * A case whose body is rendered on first use, with the description fast-check prints. Shrinking
 * builds thousands of candidate cases it never runs once past its budget: rendering every body
 * up front made that enumeration take minutes.
 */
export function lazyCase<T extends FuzzCase>(fields: Omit<T, 'body'>, render: () => Buffer): T {
  let body: Buffer | undefined;
  const c = Object.defineProperty({ ...fields }, 'body', { enumerable: true, get: () => (body ??= render()) }) as T;
  return Object.assign(c, { [fc.toStringMethod]: () => describeCase(c) });
}
