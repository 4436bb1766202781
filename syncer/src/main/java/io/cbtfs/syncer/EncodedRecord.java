package io.cbtfs.syncer;

import java.nio.ByteBuffer;

/**
 * One record ready for the stream: a run of image bytes {@code [byteOffset, byteOffset +
 * byteLength)}, its checksum, and its payload as it travels.
 *
 * @param checksum CRC32C over kind, offset, length and the uncompressed bytes
 * @param payload the bytes that travel, position to limit (null for a zero record); a view of the
 *     encoder's buffer, never consumed by a reader (readers take a duplicate)
 */
public record EncodedRecord(
    RecordKind kind, long byteOffset, int byteLength, int checksum, ByteBuffer payload) {

  public int payloadLength() {
    return payload == null ? 0 : payload.remaining();
  }
}
