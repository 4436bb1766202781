package io.cbtfs.syncer;

import java.io.DataOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.security.MessageDigest;
import java.util.zip.CRC32C;

/**
 * Writes a delta stream (docs/FORMAT.md): the header, records in ascending offset order, and the
 * trailer with the record count, the data byte count and a SHA-256 over every record's header
 * (which holds its checksum), so a whole delta can be verified. Not thread-safe.
 */
public final class DeltaWriter {
  static final int TRAILER_BYTES = 1 + 8 + 8 + 32 + 4;

  private final DataOutputStream out;
  private final MessageDigest chain;
  private long recordCount;
  private long dataBytes;
  private long wireBytes;
  private long nextOffset;

  public DeltaWriter(OutputStream out, DeltaHeader header) throws IOException {
    this.out = new DataOutputStream(out);
    this.chain = BlockHashes.sha256();
    byte[] h = header.encode();
    this.out.write(h);
    wireBytes = h.length;
  }

  /** Appends a record; records must come in ascending, non-overlapping order. */
  public void write(EncodedRecord r) throws IOException {
    if (r.byteOffset() < nextOffset) {
      throw new IllegalArgumentException("records out of order at " + r.byteOffset());
    }
    byte[] head =
        RecordHeader.encode(
            r.kind(), r.byteOffset(), r.byteLength(), r.payloadLength(), r.checksum());
    out.write(head);
    if (r.payloadLength() > 0) {
      out.write(r.payload(), 0, r.payloadLength());
    }
    chain.update(head);
    recordCount++;
    dataBytes += r.byteLength();
    wireBytes += head.length + r.payloadLength();
    nextOffset = r.byteOffset() + r.byteLength();
  }

  /** Writes the trailer and flushes. Returns the bytes written in all. */
  public long finish() throws IOException {
    ByteBuffer t = ByteBuffer.allocate(TRAILER_BYTES);
    t.put((byte) RecordKind.TRAILER).putLong(recordCount).putLong(dataBytes).put(chain.digest());
    CRC32C crc = new CRC32C();
    crc.update(t.array(), 0, t.position());
    t.putInt((int) crc.getValue());
    out.write(t.array());
    out.flush();
    wireBytes += TRAILER_BYTES;
    return wireBytes;
  }

  public long recordCount() {
    return recordCount;
  }
}
