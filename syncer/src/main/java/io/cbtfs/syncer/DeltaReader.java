package io.cbtfs.syncer;

import io.cbtfs.syncer.crypto.EncryptionKey;
import io.cbtfs.syncer.crypto.ObjectSeal;
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

  /**
   * The sink of a reader that checks a delta's framing only: sealed records are then accepted
   * without their key (a receiver or an archive that stores them). Any other sink needs the key.
   */
  public static final RecordSink FRAMING_ONLY = (kind, off, bytes, len) -> {};

  private DeltaReader() {}

  /** Reads just the header (to route or refuse a delta before reading the rest). */
  public static DeltaHeader readHeader(InputStream in, String source) throws IOException {
    byte[] h = new byte[DeltaHeader.BYTES];
    readFully(new DataInputStream(in), h, source, "header");
    return DeltaHeader.decode(h, source);
  }

  /** Verifies a whole delta, calling {@code sink} for every record. */
  public static Summary read(InputStream in, String source, RecordSink sink) throws IOException {
    return read(in, source, sink, null);
  }

  /**
   * Verifies a whole delta, calling {@code sink} for every record; sealed records are opened with
   * {@code key} (the one place a restore decrypts deltas).
   *
   * @param key the key of a sealed delta, or null
   * @throws CorruptDeltaException also if the delta is sealed with another key, or with one and
   *     neither {@code key} is given nor {@code sink} is {@link #FRAMING_ONLY}
   */
  public static Summary read(InputStream in, String source, RecordSink sink, EncryptionKey key)
      throws IOException {
    DataInputStream data = new DataInputStream(in);
    DeltaHeader header = readHeader(data, source);
    RecordSeal seal = null;
    if (header.sealed() && sink != FRAMING_ONLY) {
      String refusal = EncryptionKey.refusal(key, header.keyId());
      if (refusal != null) {
        throw new CorruptDeltaException(source, "it " + refusal);
      }
      seal = new RecordSeal(key.seal(), header);
    }
    return readBody(data, header, source, sink, seal);
  }

  /** Reads and verifies a whole delta file, handing every record to {@code sink}. */
  public static Summary read(Path file, RecordSink sink) throws IOException {
    return read(file, sink, null);
  }

  /** {@link #read(Path, RecordSink)}, opening sealed records with {@code key}. */
  public static Summary read(Path file, RecordSink sink, EncryptionKey key) throws IOException {
    try (InputStream in = new BufferedInputStream(Files.newInputStream(file), 1 << 20)) {
      return read(in, file.toString(), sink, key);
    }
  }

  /** Verifies a whole delta file (one found after a crash, or an archived one): its framing. */
  public static Summary verify(Path file) throws IOException {
    return read(file, FRAMING_ONLY);
  }

  /** Reads and verifies the records and trailer after an already-read header. */
  private static Summary readBody(
      DataInputStream data, DeltaHeader header, String source, RecordSink sink, RecordSeal seal)
      throws IOException {
    RecordCodec codec = new RecordCodec();
    boolean ended = false; // a sealed delta's end mark was read
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
        if (seal != null && !ended) {
          throw new CorruptDeltaException(source, "truncated: no sealed end after " + count);
        }
        readTrailer(data, source, count, header.sealed() ? 0 : dataBytes, chain);
        return new Summary(header, count, dataBytes);
      }
      if (header.sealed() != (marker == RecordKind.SEALED) || ended) {
        throw new CorruptDeltaException(
            source,
            "record "
                + count
                + (ended ? " after the sealed end" : " is not sealed as its header says"));
      }
      byte[] inner = null; // a sealed record's plaintext: header, then payload
      if (marker == RecordKind.SEALED) {
        head[0] = (byte) marker;
        readFully(data, head, 1, head.length - 1, source, "record " + count);
        RecordHeader outer = RecordHeader.decode(head);
        int p = outer.payloadLength();
        if (outer.offset() != 0
            || outer.length() != 0
            || p < RecordSeal.END_BYTES + ObjectSeal.OVERHEAD
            || p > ObjectSeal.OVERHEAD + RecordHeader.BYTES + codec.maxPayload(MAX_RECORD_BYTES)) {
          throw new CorruptDeltaException(source, "sealed record " + count + " has a bad header");
        }
        if (payload.length < p) {
          payload = new byte[p];
        }
        readFully(data, payload, 0, p, source, "sealed record " + count);
        if (RecordSeal.crc(payload, p) != outer.checksum()) {
          throw new CorruptDeltaException(source, "sealed record " + count + ": checksum mismatch");
        }
        chain.update(head);
        if (seal == null) { // framing only: what a receiver without the key can check
          count++;
          continue;
        }
        inner = seal.open(payload, p, count, source + " record " + count);
        if (inner[0] == RecordSeal.END) {
          java.nio.ByteBuffer e = java.nio.ByteBuffer.wrap(inner);
          e.get();
          if (inner.length != RecordSeal.END_BYTES
              || e.getLong() != count
              || e.getLong() != dataBytes) {
            throw new CorruptDeltaException(source, "the sealed end does not match the records");
          }
          ended = true;
          count++;
          continue;
        }
        if (inner.length < RecordHeader.BYTES) {
          throw new CorruptDeltaException(source, "sealed record " + count + " is too short");
        }
        marker = inner[0] & 0xff;
      }
      RecordKind kind = RecordKind.of(marker);
      if (kind == null) {
        throw new CorruptDeltaException(
            source, "unknown record kind " + marker + " at record " + count);
      }
      boolean wasSealed = inner != null;
      if (inner == null) {
        head[0] = (byte) marker;
        readFully(data, head, 1, head.length - 1, source, "record " + count);
      } else {
        System.arraycopy(inner, 0, head, 0, head.length);
      }
      RecordHeader h = RecordHeader.decode(head);
      long offset = h.offset();
      int length = h.length();
      int payloadLength = h.payloadLength();
      String where = "record " + count + " at offset " + offset;
      int expectedMax = checkRecord(kind, h, header, nextOffset, codec, source, where);
      if (inner != null && inner.length != RecordHeader.BYTES + payloadLength) {
        throw new CorruptDeltaException(source, where + ": bad payload length " + payloadLength);
      }
      if (inner != null) { // into the buffer the sealed bytes were read into, longer than this
        System.arraycopy(inner, RecordHeader.BYTES, payload, 0, payloadLength);
      } else {
        if (payload.length < payloadLength) {
          payload = new byte[Math.max(payloadLength, Math.min(payload.length * 2, expectedMax))];
        }
        readFully(data, payload, 0, payloadLength, source, where);
      }
      if (kind == RecordKind.DATA_LZ4 && bytes.length < length) {
        bytes = new byte[length];
      }
      byte[] decoded = decoded(kind, h, payload, bytes, codec, source, where);
      if (!wasSealed) {
        chain.update(head); // a sealed record's outer header is in the chain already
      }
      sink.accept(kind, offset, decoded, length);
      count++;
      dataBytes += length;
      nextOffset = offset + length;
    }
  }

  /**
   * Checks record header {@code h} of {@code kind} before any of it is trusted: its length bounded,
   * its bytes inside the image and after {@code nextOffset} (where the record before ended), its
   * payload no longer than its kind allows. The checks every reader of a delta's records shares.
   *
   * @param where names the record in the message
   * @return the longest payload a record of its kind and length may have
   */
  static int checkRecord(
      RecordKind kind,
      RecordHeader h,
      DeltaHeader header,
      long nextOffset,
      RecordCodec codec,
      String source,
      String where)
      throws CorruptDeltaException {
    int length = h.length();
    if (length <= 0 || length > MAX_RECORD_BYTES) {
      throw new CorruptDeltaException(source, where + ": bad length " + length);
    }
    if (h.offset() < nextOffset || h.offset() > header.imageSize() - length) {
      throw new CorruptDeltaException(source, where + ": outside the image or out of order");
    }
    int max =
        switch (kind) {
          case ZERO -> 0;
          case DATA_RAW -> length;
          case DATA_LZ4 -> codec.maxPayload(length);
        };
    int payloadLength = h.payloadLength();
    if (payloadLength < 0
        || payloadLength > max
        || (kind == RecordKind.DATA_RAW && payloadLength != length)) {
      throw new CorruptDeltaException(source, where + ": bad payload length " + payloadLength);
    }
    return max;
  }

  /**
   * The bytes of a record whose header {@code h} passed {@link #checkRecord}, from its payload
   * {@code payload[0, h.payloadLength())}, checked against the header's checksum: the payload
   * itself for a raw record, {@code into} (at least {@code h.length()} long) for an LZ4 one, null
   * for a zero record (its bytes are implied).
   *
   * @throws CorruptDeltaException if the payload does not decode or the checksum differs
   */
  static byte[] decoded(
      RecordKind kind,
      RecordHeader h,
      byte[] payload,
      byte[] into,
      RecordCodec codec,
      String source,
      String where)
      throws CorruptDeltaException {
    byte[] decoded = null;
    if (kind == RecordKind.DATA_RAW) {
      decoded = payload; // already the bytes: no copy
    } else if (kind == RecordKind.DATA_LZ4) {
      codec.decompress(payload, h.payloadLength(), into, h.length(), source + " " + where);
      decoded = into;
    }
    if (RecordCodec.checksum(kind, h.offset(), decoded, h.length()) != h.checksum()) {
      throw new CorruptDeltaException(source, where + ": checksum mismatch");
    }
    return decoded;
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
