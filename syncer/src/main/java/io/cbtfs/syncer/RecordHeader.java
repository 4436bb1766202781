package io.cbtfs.syncer;

import java.nio.ByteBuffer;

/**
 * A record's header as a delta lays it out (docs/FORMAT.md): marker (the kind), offset, length,
 * payload length, checksum. The writer encodes it here and the readers decode it here.
 */
record RecordHeader(int marker, long offset, int length, int payloadLength, int checksum) {
  static final int BYTES = 1 + 8 + 4 + 4 + 4;

  /** The header of a record of {@code kind}. */
  static byte[] encode(RecordKind kind, long offset, int length, int payloadLength, int checksum) {
    return ByteBuffer.allocate(BYTES)
        .put((byte) kind.code)
        .putLong(offset)
        .putInt(length)
        .putInt(payloadLength)
        .putInt(checksum)
        .array();
  }

  /** The header in {@code head[0, BYTES)}; nothing checked yet. */
  static RecordHeader decode(byte[] head) {
    ByteBuffer b = ByteBuffer.wrap(head, 0, BYTES);
    return new RecordHeader(b.get() & 0xff, b.getLong(), b.getInt(), b.getInt(), b.getInt());
  }
}
