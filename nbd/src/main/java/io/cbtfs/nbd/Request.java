package io.cbtfs.nbd;

import java.io.IOException;

/**
 * One request of the transmission phase, its header read (a WRITE's payload follows on the wire).
 *
 * @param length unsigned 32 bits, as a long
 * @param offset unsigned 64 bits: negative means beyond any export
 */
record Request(int flags, int type, long cookie, long offset, long length) {
  /** Reads the next request's header; a wrong magic number ends the session. */
  static Request read(WireInput in) throws IOException {
    int magic = in.readInt();
    if (magic != Nbd.REQUEST_MAGIC) {
      throw new NbdProtocolException(String.format("not a request: magic 0x%08x", magic));
    }
    int flags = in.readUnsignedShort();
    int type = in.readUnsignedShort();
    long cookie = in.readLong();
    long offset = in.readLong();
    long length = Integer.toUnsignedLong(in.readInt());
    return new Request(flags, type, cookie, offset, length);
  }

  boolean has(int flag) {
    return (flags & flag) != 0;
  }

  /** The end of the range, or -1 if it is past what 64 bits hold. */
  long end() {
    return offset < 0 || offset + length < 0 ? -1 : offset + length;
  }
}
