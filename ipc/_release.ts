/**
 * Freeing large buffers at once.
 *
 * @module
 */

/**
 * Frees the memory behind `bytes` now rather than at V8's next collection, by detaching
 * its `ArrayBuffer`. V8 collects dead buffers only when their total passes a limit of
 * tens of MiB, so a 100 MiB upload piles up ~50 MiB of dead chunks in each process unless
 * each is released once written. Only for bytes the caller owns whole: every view of the
 * same buffer becomes empty.
 */
export function releaseBytes(bytes: Uint8Array | undefined): void {
  const buffer = bytes?.buffer;
  if (buffer instanceof ArrayBuffer && !buffer.detached && buffer.byteLength > 0) {
    buffer.transfer(0);
  }
}
