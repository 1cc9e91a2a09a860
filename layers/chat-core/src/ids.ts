import { randomBytes } from 'node:crypto';

// Crockford base32: ids sort as strings in the order they were made.
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const RANDOM_BITS = 80n;

let lastTime = -1;
let lastRandom = 0n;

function encode(value: bigint, length: number): string {
  let out = '';
  for (let i = 0; i < length; i++) {
    out = ALPHABET[Number(value & 31n)] + out;
    value >>= 5n;
  }
  return out;
}

/**
 * A 26-character id: 48 bits of milliseconds then 80 random bits (the ULID layout). Ids made in the
 * same millisecond by one process increase by one, so they stay unique and in creation order.
 */
export function timeSortableId(now: number = Date.now()): string {
  if (now <= lastTime) {
    lastRandom = (lastRandom + 1n) & ((1n << RANDOM_BITS) - 1n);
    now = lastTime;
  } else {
    lastTime = now;
    lastRandom = BigInt(`0x${randomBytes(10).toString('hex')}`) >> 1n; // leave room to increment
  }
  return encode(BigInt(now), 10) + encode(lastRandom, 16);
}

/** The millisecond timestamp inside a time-sortable id. */
export function timeOfId(id: string): number {
  let time = 0;
  for (const char of id.slice(0, 10)) time = time * 32 + ALPHABET.indexOf(char);
  return time;
}

/** The smallest id of a given millisecond: every id made at or after `time` sorts above it. */
export function lowestIdAt(time: number): string {
  return encode(BigInt(Math.max(0, time)), 10) + '0'.repeat(16);
}
