/** A growable byte buffer for encoders; decoders read with DataView directly and check every bound first. */
export class ByteWriter {
  #buf: Uint8Array;
  #view: DataView;
  #len = 0;

  constructor(capacity = 64) {
    this.#buf = new Uint8Array(capacity);
    this.#view = new DataView(this.#buf.buffer);
  }

  /** Bytes written so far. */
  get length(): number {
    return this.#len;
  }

  #reserve(n: number): void {
    if (this.#len + n <= this.#buf.length) return;
    let size = this.#buf.length * 2;
    while (size < this.#len + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.#buf.subarray(0, this.#len));
    this.#buf = next;
    this.#view = new DataView(next.buffer);
  }

  u8(v: number): this {
    this.#reserve(1);
    this.#buf[this.#len++] = v & 0xff;
    return this;
  }

  u16(v: number): this {
    this.#reserve(2);
    this.#view.setUint16(this.#len, v & 0xffff);
    this.#len += 2;
    return this;
  }

  u32(v: number): this {
    this.#reserve(4);
    this.#view.setUint32(this.#len, v >>> 0);
    this.#len += 4;
    return this;
  }

  bytes(b: Uint8Array): this {
    this.#reserve(b.length);
    this.#buf.set(b, this.#len);
    this.#len += b.length;
    return this;
  }

  /** Overwrites a 16-bit value at `offset` (for lengths known only after the body is written). */
  patchU16(offset: number, v: number): void {
    this.#view.setUint16(offset, v & 0xffff);
  }

  /** Overwrites an 8-bit value at `offset`. */
  patchU8(offset: number, v: number): void {
    this.#buf[offset] = v & 0xff;
  }

  /** The bytes written, as a copy that owns its buffer. */
  finish(): Uint8Array {
    return this.#buf.slice(0, this.#len);
  }
}

/** A DataView over exactly the bytes of `b`. */
export function viewOf(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

/** Two-byte big-endian encoding of `v`, for NOTIFICATION data fields. */
export function u16Bytes(v: number): Uint8Array {
  return new Uint8Array([(v >> 8) & 0xff, v & 0xff]);
}
