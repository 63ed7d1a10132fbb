/**
 * SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104) in plain JavaScript, for the election's short keys, node Lease
 * names and heartbeat signatures. Two reasons not to use `node:crypto`: it costs 2-4 µs per call in Deno, mostly in
 * crossing into native code and allocating a Buffer (the election hashes (node, address) pairs by the hundred
 * thousand on a big cluster, where {@link sha256Words}, returning the eight state words without any allocation beyond
 * one array, is several times faster); and importing any `node:` module makes Deno load its Node compatibility layer,
 * about 3 MB of heap and 4 MB of mapped code the daemon otherwise never needs. Verified against `node:crypto` and the
 * RFC 4231 vectors in the tests.
 * @module
 */

// FIPS 180-4 §4.2.2: the first 32 bits of the fractional parts of the cube roots of the first 64 primes.
const K = new Uint32Array([
  0x428a2f98,
  0x71374491,
  0xb5c0fbcf,
  0xe9b5dba5,
  0x3956c25b,
  0x59f111f1,
  0x923f82a4,
  0xab1c5ed5,
  0xd807aa98,
  0x12835b01,
  0x243185be,
  0x550c7dc3,
  0x72be5d74,
  0x80deb1fe,
  0x9bdc06a7,
  0xc19bf174,
  0xe49b69c1,
  0xefbe4786,
  0x0fc19dc6,
  0x240ca1cc,
  0x2de92c6f,
  0x4a7484aa,
  0x5cb0a9dc,
  0x76f988da,
  0x983e5152,
  0xa831c66d,
  0xb00327c8,
  0xbf597fc7,
  0xc6e00bf3,
  0xd5a79147,
  0x06ca6351,
  0x14292967,
  0x27b70a85,
  0x2e1b2138,
  0x4d2c6dfc,
  0x53380d13,
  0x650a7354,
  0x766a0abb,
  0x81c2c92e,
  0x92722c85,
  0xa2bfe8a1,
  0xa81a664b,
  0xc24b8b70,
  0xc76c51a3,
  0xd192e819,
  0xd6990624,
  0xf40e3585,
  0x106aa070,
  0x19a4c116,
  0x1e376c08,
  0x2748774c,
  0x34b0bcb5,
  0x391c0cb3,
  0x4ed8aa4a,
  0x5b9cca4f,
  0x682e6ff3,
  0x748f82ee,
  0x78a5636f,
  0x84c87814,
  0x8cc70208,
  0x90befffa,
  0xa4506ceb,
  0xbef9a3f7,
  0xc67178f2,
]);
// FIPS 180-4 §5.3.3: the first 32 bits of the fractional parts of the square roots of the first 8 primes.
const H0: readonly number[] = [
  0x6a09e667,
  0xbb67ae85,
  0x3c6ef372,
  0xa54ff53a,
  0x510e527f,
  0x9b05688c,
  0x1f83d9ab,
  0x5be0cd19,
];

const W = new Uint32Array(64);
const encoder = new TextEncoder();
// Reused for the common case, keys of ASCII text up to 119 bytes (two blocks once padded).
const SCRATCH = new Uint8Array(128);
const SCRATCH_VIEW = new DataView(SCRATCH.buffer);

function asciiInto(text: string, out: Uint8Array): number {
  if (text.length > out.length - 9) return -1;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c > 0x7f) return -1;
    out[i] = c;
  }
  return text.length;
}

/** SHA-256 of a string's UTF-8 bytes, as eight big-endian 32-bit words (their order is the digest's byte order). */
export function sha256Words(text: string): Uint32Array {
  const length = asciiInto(text, SCRATCH);
  if (length < 0) return sha256WordsOfBytes(encoder.encode(text));
  return compress(SCRATCH_VIEW, pad(SCRATCH, SCRATCH_VIEW, length));
}

/** SHA-256 of bytes, as the 32-byte digest. */
export function sha256(data: Uint8Array): Uint8Array {
  return wordsToBytes(sha256WordsOfBytes(data));
}

/** SHA-256 of a string's UTF-8 bytes, as 64 lowercase hex digits (`digest("hex")` in Node). */
export function sha256Hex(text: string): string {
  let hex = "";
  for (const word of sha256Words(text)) hex += word.toString(16).padStart(8, "0");
  return hex;
}

// RFC 2104 §2: B, the block length of the hash in bytes, and the two pad bytes.
const HMAC_BLOCK = 64;
const IPAD = 0x36;
const OPAD = 0x5c;

/** HMAC-SHA256 (RFC 2104) of `data` under `key`, as the 32-byte tag. */
export function hmacSha256(key: Uint8Array, data: Uint8Array): Uint8Array {
  // RFC 2104 §2: a key longer than B is hashed first; a shorter one is padded with zeros to B bytes.
  const block = new Uint8Array(HMAC_BLOCK);
  block.set(key.length > HMAC_BLOCK ? sha256(key) : key);
  const inner = new Uint8Array(HMAC_BLOCK + data.length);
  for (let i = 0; i < HMAC_BLOCK; i++) inner[i] = block[i]! ^ IPAD;
  inner.set(data, HMAC_BLOCK);
  const outer = new Uint8Array(HMAC_BLOCK + 32);
  for (let i = 0; i < HMAC_BLOCK; i++) outer[i] = block[i]! ^ OPAD;
  outer.set(sha256(inner), HMAC_BLOCK);
  return sha256(outer);
}

/**
 * Whether two byte strings are equal, in a time that depends only on their lengths (not on where they first
 * differ), so comparing a received HMAC with the expected one leaks nothing about the expected one.
 */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

function sha256WordsOfBytes(data: Uint8Array): Uint32Array {
  if (data.length <= SCRATCH.length - 9) {
    SCRATCH.set(data);
    return compress(SCRATCH_VIEW, pad(SCRATCH, SCRATCH_VIEW, data.length));
  }
  const padded = new Uint8Array(Math.ceil((data.length + 9) / 64) * 64);
  padded.set(data);
  const view = new DataView(padded.buffer);
  return compress(view, pad(padded, view, data.length));
}

/**
 * Pads the message in the first `length` bytes of `buffer` (§5.1.1: a 1 bit, zeros, then the length in bits as 64
 * bits, to a multiple of 64 bytes) and returns the number of 64-byte blocks. The buffer must hold them.
 */
function pad(buffer: Uint8Array, view: DataView, length: number): number {
  const blocks = Math.ceil((length + 9) / 64);
  buffer.fill(0, length, blocks * 64);
  buffer[length] = 0x80;
  const bits = length * 8;
  view.setUint32(blocks * 64 - 8, Math.floor(bits / 0x1_0000_0000));
  view.setUint32(blocks * 64 - 4, bits >>> 0);
  return blocks;
}

function wordsToBytes(words: Uint32Array): Uint8Array {
  const out = new Uint8Array(32);
  const view = new DataView(out.buffer);
  for (let i = 0; i < 8; i++) view.setUint32(i * 4, words[i]!);
  return out;
}

/** Hashes `blocks` padded 64-byte blocks (§6.2.2) and returns the eight state words. */
function compress(view: DataView, blocks: number): Uint32Array {
  let h0 = H0[0]!, h1 = H0[1]!, h2 = H0[2]!, h3 = H0[3]!, h4 = H0[4]!, h5 = H0[5]!, h6 = H0[6]!, h7 = H0[7]!;
  for (let block = 0; block < blocks; block++) {
    const base = block * 64;
    for (let t = 0; t < 16; t++) W[t] = view.getUint32(base + t * 4);
    for (let t = 16; t < 64; t++) {
      const w15 = W[t - 15]!;
      const w2 = W[t - 2]!;
      const s0 = ((w15 >>> 7) | (w15 << 25)) ^ ((w15 >>> 18) | (w15 << 14)) ^ (w15 >>> 3);
      const s1 = ((w2 >>> 17) | (w2 << 15)) ^ ((w2 >>> 19) | (w2 << 13)) ^ (w2 >>> 10);
      W[t] = (W[t - 16]! + s0 + W[t - 7]! + s1) | 0;
    }
    let a = h0, b = h1, c = h2, d = h3, e = h4, f = h5, g = h6, h = h7;
    for (let t = 0; t < 64; t++) {
      const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      const ch = (e & f) ^ (~e & g);
      const t1 = (h + S1 + ch + K[t]! + W[t]!) | 0;
      const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      const maj = (a & b) ^ (a & c) ^ (b & c);
      const t2 = (S0 + maj) | 0;
      h = g;
      g = f;
      f = e;
      e = (d + t1) | 0;
      d = c;
      c = b;
      b = a;
      a = (t1 + t2) | 0;
    }
    h0 = (h0 + a) | 0;
    h1 = (h1 + b) | 0;
    h2 = (h2 + c) | 0;
    h3 = (h3 + d) | 0;
    h4 = (h4 + e) | 0;
    h5 = (h5 + f) | 0;
    h6 = (h6 + g) | 0;
    h7 = (h7 + h) | 0;
  }
  return new Uint32Array([h0, h1, h2, h3, h4, h5, h6, h7]);
}

/** Compares two digests from {@link sha256Words} as their bytes would compare (bytes.Compare in MetalLB). */
export function compareDigests(a: Uint32Array, b: Uint32Array): number {
  for (let i = 0; i < 8; i++) {
    if (a[i] !== b[i]) return a[i]! < b[i]! ? -1 : 1;
  }
  return 0;
}
