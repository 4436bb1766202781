package io.cbtfs.syncer;

import java.io.DataOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.security.MessageDigest;
import java.util.Objects;
import java.util.zip.CRC32C;

/**
 * Writes a delta stream (docs/FORMAT.md): the header, records in ascending offset order, and the
 * trailer with the record count, the data byte count and a SHA-256 over every record's header
 * (which holds its checksum), so a whole delta can be verified. Not thread-safe.
 */
public final class DeltaWriter {
  static final int TRAILER_BYTES = 1 + 8 + 8 + 32 + 4;

  private final DataOutputStream out;
  private final BorrowingStream borrower; // null: payloads are copied into out
  private byte[] scratch; // a direct payload's way into a stream that copies
  private final MessageDigest chain;
  private long recordCount;
  private long dataBytes;
  private long wireBytes;
  private long nextOffset;
  private long reusedBytes;
  private final RecordSeal seal; // null: records in clear

  public DeltaWriter(OutputStream out, DeltaHeader header) throws IOException {
    this(out, header, null);
  }

  /**
   * A writer that seals every record with {@code seal} ({@code header} must say so), or writes them
   * in clear when it is null.
   */
  public DeltaWriter(OutputStream out, DeltaHeader header, RecordSeal seal) throws IOException {
    if ((seal != null) != header.sealed()) {
      throw new IllegalArgumentException("a sealed delta needs a key, and only a sealed one");
    }
    this.seal = seal;
    this.out = new DataOutputStream(out);
    this.borrower = out instanceof BorrowingStream b ? b : null;
    this.chain = BlockHashes.sha256();
    byte[] h = header.encode();
    this.out.write(h);
    wireBytes = h.length;
  }

  /**
   * Appends a record; records must come in ascending, non-overlapping order. The payload is copied
   * before this returns: the caller may reuse its buffer at once.
   */
  public void write(EncodedRecord r) throws IOException {
    append(r, null);
  }

  /**
   * Appends a record, as {@link #write(EncodedRecord)}; {@code whenWritten} runs once the stream is
   * done with the record's payload: at once, or later on another thread where the stream borrows it
   * ({@link BorrowingStream}). It runs whatever happens, exactly once; until then the caller leaves
   * the payload's buffer alone.
   */
  public void write(EncodedRecord r, Runnable whenWritten) throws IOException {
    append(r, Objects.requireNonNull(whenWritten));
  }

  /** With {@code whenWritten} null, the payload is copied, never lent. */
  private void append(EncodedRecord r, Runnable whenWritten) throws IOException {
    boolean lent = false;
    try {
      if (r.byteOffset() < nextOffset) {
        throw new IllegalArgumentException("records out of order at " + r.byteOffset());
      }
      byte[] head =
          RecordHeader.encode(
              r.kind(), r.byteOffset(), r.byteLength(), r.payloadLength(), r.checksum());
      if (seal != null) {
        writeSealed(seal.seal(head, r.payload(), recordCount));
        dataBytes += r.byteLength();
        nextOffset = r.byteOffset() + r.byteLength();
        return; // whenWritten runs in finally: the payload was copied into the sealed bytes
      }
      out.write(head);
      ByteBuffer payload = r.payload();
      if (payload != null && payload.hasRemaining()) {
        if (whenWritten != null && borrower != null) {
          lent = true;
          borrower.borrow(payload.duplicate(), whenWritten);
        } else {
          copyOut(payload.duplicate());
        }
      }
      chain.update(head);
      recordCount++;
      dataBytes += r.byteLength();
      wireBytes += head.length + r.payloadLength();
      nextOffset = r.byteOffset() + r.byteLength();
    } finally {
      if (!lent && whenWritten != null) {
        whenWritten.run();
      }
    }
  }

  /**
   * Appends a record the target kept from an earlier attempt ({@link KeptAttempt}): its bytes do
   * not travel; {@code kept.reuse(index)} has the target copy it here. The trailer counts and
   * chains it as if it had been written.
   */
  public void reuse(KeptAttempt kept, int index) throws IOException {
    if (seal != null) {
      throw new IllegalStateException("a sealed delta cannot reuse kept records");
    }
    KeptAttempt.KeptRecord r = kept.records().get(index);
    if (r.byteOffset() < nextOffset) {
      throw new IllegalArgumentException("records out of order at " + r.byteOffset());
    }
    out.flush(); // every byte before it, then the reference
    kept.reuse(index);
    chain.update(r.header());
    recordCount++;
    dataBytes += r.byteLength();
    reusedBytes += r.byteLength();
    nextOffset = r.end();
  }

  /** The image bytes of the records the target copied from what it kept, not sent. */
  public long reusedBytes() {
    return reusedBytes;
  }

  private void copyOut(ByteBuffer payload) throws IOException {
    if (borrower != null) {
      borrower.copy(payload); // from buffer to buffer, not through an array
      return;
    }
    if (payload.hasArray()) {
      out.write(payload.array(), payload.arrayOffset() + payload.position(), payload.remaining());
      return;
    }
    if (scratch == null) {
      scratch = new byte[256 << 10];
    }
    while (payload.hasRemaining()) {
      int n = Math.min(payload.remaining(), scratch.length);
      payload.get(scratch, 0, n);
      out.write(scratch, 0, n);
    }
  }

  /**
   * One sealed record: its outer header (framing only) and the sealed bytes (an array's), then a
   * flush, so a stream that stages in buffers ({@link BorrowingStream}) hands each record on by
   * itself as it does a clear record's lent payload. Why: copied back to back, the records filled
   * whole 1 MiB buffers, each written at a 1 MiB boundary of the staged file, and such writes cost
   * the kernel several times the CPU of the clear path's (their pages are allocated differently; on
   * the benchmark's VM an encrypted archive sync took 2-3x the time of a clear one, nearly all of
   * it copying into the page cache; docs/BENCHMARKS.md).
   */
  private void writeSealed(ByteBuffer sealed) throws IOException {
    byte[] head = RecordSeal.outerHeader(sealed.array(), sealed.remaining());
    out.write(head);
    out.write(sealed.array(), 0, sealed.remaining());
    if (borrower != null) {
      out.flush();
    }
    chain.update(head);
    recordCount++;
    wireBytes += head.length + sealed.remaining();
  }

  /** Writes the trailer and flushes. Returns the bytes written in all. */
  public long finish() throws IOException {
    if (seal != null) {
      writeSealed(seal.sealEnd(recordCount, dataBytes)); // truncation shows: the end is sealed
      dataBytes = 0; // the trailer sums the outer records' lengths, which are 0 when sealed
    }
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
