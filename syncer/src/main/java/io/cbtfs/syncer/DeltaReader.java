package io.cbtfs.syncer;

import java.io.BufferedInputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.Arrays;
import java.util.zip.CRC32C;

/**
 * Reads and verifies a delta stream. Every field is bounded before it is trusted (record length,
 * payload length, offsets inside the image, ascending order), every record's checksum is checked
 * after decoding, and the trailer's count and SHA-256 chain must match; bytes after the trailer are
 * an error. Callers apply nothing until {@link #read} returned: a failure can come at the last
 * byte.
 */
public final class DeltaReader {
  /** The largest record a reader accepts: bounds memory against a hostile stream. */
  public static final int MAX_RECORD_BYTES = 16 << 20;

  /**
   * Receives each verified record's bytes, {@code data[0, byteLength)}, in ascending offset order;
   * the array is the reader's and is reused after the call. For a {@link RecordKind#ZERO} record
   * {@code data} is null: the bytes are zero.
   */
  @FunctionalInterface
  public interface RecordSink {
    void accept(RecordKind kind, long byteOffset, byte[] data, int byteLength) throws IOException;
  }

  /**
   * What a verified delta held.
   *
   * @param dataBytes the image bytes the records cover
   */
  public record Summary(DeltaHeader header, long recordCount, long dataBytes) {}

  private DeltaReader() {}

  /** Reads just the header (to route or refuse a delta before reading the rest). */
  public static DeltaHeader readHeader(InputStream in, String source) throws IOException {
    byte[] h = new byte[DeltaHeader.BYTES];
    readFully(new DataInputStream(in), h, source, "header");
    return DeltaHeader.decode(h, source);
  }

  /** Verifies a whole delta, calling {@code sink} for every record. */
  public static Summary read(InputStream in, String source, RecordSink sink) throws IOException {
    DataInputStream data = new DataInputStream(in);
    DeltaHeader header = readHeader(data, source);
    return readBody(data, header, source, sink);
  }

  /** Reads and verifies a whole delta file, handing every record to {@code sink}. */
  public static Summary read(Path file, RecordSink sink) throws IOException {
    try (InputStream in = new BufferedInputStream(Files.newInputStream(file), 1 << 20)) {
      return read(in, file.toString(), sink);
    }
  }

  /** Verifies a whole delta file (one found after a crash, or an archived one). */
  public static Summary verify(Path file) throws IOException {
    return read(file, (kind, off, bytes, len) -> {});
  }

  /** Reads and verifies the records and trailer after an already-read header. */
  private static Summary readBody(
      DataInputStream data, DeltaHeader header, String source, RecordSink sink) throws IOException {
    RecordCodec codec = new RecordCodec();
    MessageDigest chain = BlockHashes.sha256();
    byte[] head = new byte[RecordHeader.BYTES];
    byte[] payload = new byte[0];
    byte[] bytes = new byte[0];
    long count = 0;
    long dataBytes = 0;
    long nextOffset = 0;
    while (true) {
      int marker = data.read();
      if (marker < 0) {
        throw new CorruptDeltaException(source, "truncated after " + count + " records");
      }
      if (marker == RecordKind.TRAILER) {
        readTrailer(data, source, count, dataBytes, chain);
        return new Summary(header, count, dataBytes);
      }
      RecordKind kind = RecordKind.of(marker);
      if (kind == null) {
        throw new CorruptDeltaException(
            source, "unknown record kind " + marker + " at record " + count);
      }
      head[0] = (byte) marker;
      readFully(data, head, 1, head.length - 1, source, "record " + count);
      RecordHeader h = RecordHeader.decode(head);
      long offset = h.offset();
      int length = h.length();
      int payloadLength = h.payloadLength();
      int checksum = h.checksum();
      String where = "record " + count + " at offset " + offset;
      if (length <= 0 || length > MAX_RECORD_BYTES) {
        throw new CorruptDeltaException(source, where + ": bad length " + length);
      }
      if (offset < nextOffset || offset > header.imageSize() - length) {
        throw new CorruptDeltaException(source, where + ": outside the image or out of order");
      }
      int expectedMax =
          switch (kind) {
            case ZERO -> 0;
            case DATA_RAW -> length;
            case DATA_LZ4 -> codec.maxPayload(length);
          };
      if (payloadLength < 0
          || payloadLength > expectedMax
          || (kind == RecordKind.DATA_RAW && payloadLength != length)) {
        throw new CorruptDeltaException(source, where + ": bad payload length " + payloadLength);
      }
      if (payload.length < payloadLength) {
        payload = new byte[Math.max(payloadLength, Math.min(payload.length * 2, expectedMax))];
      }
      readFully(data, payload, 0, payloadLength, source, where);
      byte[] decoded = null; // a zero record's bytes are implied
      if (kind == RecordKind.DATA_RAW) {
        decoded = payload; // already the bytes: no copy
      } else if (kind == RecordKind.DATA_LZ4) {
        if (bytes.length < length) {
          bytes = new byte[length];
        }
        codec.decompress(payload, payloadLength, bytes, length, source + " " + where);
        decoded = bytes;
      }
      if (RecordCodec.checksum(kind, offset, decoded, length) != checksum) {
        throw new CorruptDeltaException(source, where + ": checksum mismatch");
      }
      chain.update(head);
      sink.accept(kind, offset, decoded, length);
      count++;
      dataBytes += length;
      nextOffset = offset + length;
    }
  }

  static void readTrailer(
      DataInputStream data, String source, long count, long dataBytes, MessageDigest chain)
      throws IOException {
    byte[] t = new byte[DeltaWriter.TRAILER_BYTES];
    t[0] = (byte) RecordKind.TRAILER;
    readFully(data, t, 1, t.length - 1, source, "trailer");
    CRC32C crc = new CRC32C();
    crc.update(t, 0, t.length - 4);
    ByteBuffer b = ByteBuffer.wrap(t, 1, t.length - 1);
    long recordCount = b.getLong();
    long bytes = b.getLong();
    byte[] digest = new byte[32];
    b.get(digest);
    if (b.getInt() != (int) crc.getValue()) {
      throw new CorruptDeltaException(source, "trailer checksum mismatch");
    }
    if (recordCount != count || bytes != dataBytes) {
      throw new CorruptDeltaException(
          source,
          "trailer says "
              + recordCount
              + " records of "
              + bytes
              + " bytes, stream had "
              + count
              + " of "
              + dataBytes);
    }
    if (!Arrays.equals(digest, chain.digest())) {
      throw new CorruptDeltaException(source, "record chain hash mismatch");
    }
    if (data.read() >= 0) {
      throw new CorruptDeltaException(source, "bytes after the trailer");
    }
  }

  private static void readFully(DataInputStream in, byte[] b, String source, String what)
      throws IOException {
    readFully(in, b, 0, b.length, source, what);
  }

  private static void readFully(
      DataInputStream in, byte[] b, int off, int len, String source, String what)
      throws IOException {
    try {
      in.readFully(b, off, len);
    } catch (EOFException e) {
      throw new CorruptDeltaException(source, "truncated in " + what);
    }
  }
}
