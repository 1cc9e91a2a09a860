import type { Duplex } from 'node:stream';

/**
 * Watches a WebSocket's incoming bytes and reports the first frame whose payload is larger than
 * `limit` (API Gateway closes those with 1009). The `ws` library only limits whole messages, so the
 * frame headers are read here, beside it, skipping payloads without buffering them.
 */
export function watchFrameSizes(socket: Duplex, limit: number, onTooLarge: (size: number) => void): void {
  let header = Buffer.alloc(0);
  let skip = 0;
  const onData = (chunk: Buffer) => {
    let rest = chunk;
    while (rest.length > 0) {
      if (skip > 0) {
        const n = Math.min(skip, rest.length);
        skip -= n;
        rest = rest.subarray(n);
        continue;
      }
      header = Buffer.concat([header, rest]);
      rest = Buffer.alloc(0);
      if (header.length < 2) return;
      let length = header[1]! & 0x7f;
      let headerLength = 2;
      if (length === 126) {
        if (header.length < 4) return;
        length = header.readUInt16BE(2);
        headerLength = 4;
      } else if (length === 127) {
        if (header.length < 10) return;
        length = Number(header.readBigUInt64BE(2));
        headerLength = 10;
      }
      if (header[1]! & 0x80) headerLength += 4; // masking key
      if (header.length < headerLength) return;
      if (length > limit) {
        socket.off('data', onData);
        onTooLarge(length);
        return;
      }
      rest = header.subarray(headerLength);
      header = Buffer.alloc(0);
      skip = length;
    }
  };
  // Ahead of the WebSocket's own listener: a too-large frame that arrives whole in one chunk must be
  // reported before `ws` parses it and emits its message.
  socket.prependListener('data', onData);
}
