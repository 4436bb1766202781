package io.cbtfs.syncer;

import java.nio.ByteBuffer;
import java.util.zip.CRC32C;
import net.jpountz.lz4.LZ4Compressor;
import net.jpountz.lz4.LZ4Exception;
import net.jpountz.lz4.LZ4Factory;
import net.jpountz.lz4.LZ4SafeDecompressor;

/**
 * Turns a run of image bytes into a record and back: zero runs become payload-free zero records,
 * data LZ4 cannot shrink travels raw, and every record carries a CRC32C of its kind, place and
 * uncompressed bytes. Uses lz4-java's JNI codec and its safe decompressor only (never the Java
 * "fast" one, which trusts its input). Thread-safe.
 */
public final class RecordCodec {
  private static final LZ4Factory LZ4 = LZ4Factory.nativeInstance();
  private final LZ4Compressor compressor = LZ4.fastCompressor();
  private final LZ4SafeDecompressor decompressor = LZ4.safeDecompressor();

  /** The most bytes a compressed payload of {@code byteLength} bytes may take. */
  public int maxPayload(int byteLength) {
    return compressor.maxCompressedLength(byteLength);
  }

  /** A zero record for {@code byteLength} bytes known to be zero (a hole), without reading. */
  public EncodedRecord zero(long byteOffset, int byteLength) {
    return new EncodedRecord(
        RecordKind.ZERO,
        byteOffset,
        byteLength,
        crc(RecordKind.ZERO, byteOffset, null, byteLength),
        null);
  }

  /** Bytes of a long run that are compressed first, to see whether the run compresses at all. */
  static final int SAMPLE_BYTES = 64 << 10;

  /**
   * Encodes {@code data[0, byteLength)}, the image bytes at {@code byteOffset}, as {@link
   * #encode(long, ByteBuffer, ByteBuffer)} does. A raw record's payload is a view of {@code data}.
   */
  public EncodedRecord encode(long byteOffset, byte[] data, int byteLength) {
    return encode(byteOffset, ByteBuffer.wrap(data, 0, byteLength), null);
  }

  /**
   * Encodes {@code data} (position to limit), the image bytes at {@code byteOffset}. Zero runs
   * become zero records. A run longer than {@value #SAMPLE_BYTES} bytes is compressed only if its
   * first {@value #SAMPLE_BYTES} bytes shrink by at least 3%: incompressible data (encrypted disks,
   * media) then costs one small attempt instead of a full one. A raw record's payload is a view of
   * {@code data}, not a copy; a compressed one goes into {@code spare} when that is large enough
   * ({@link #maxPayload}), else into a new buffer of {@code data}'s kind (direct or heap). Either
   * way the caller keeps both buffers untouched until the record is written; a compressed payload
   * starts at its buffer's position 0 and has all of it as capacity, so it can serve as the next
   * run's {@code spare}. {@code data}'s position does not move.
   */
  public EncodedRecord encode(long byteOffset, ByteBuffer data, ByteBuffer spare) {
    ByteBuffer in = data.slice();
    int byteLength = in.remaining();
    if (isZero(in)) {
      return zero(byteOffset, byteLength);
    }
    if (byteLength <= SAMPLE_BYTES || compressible(in)) {
      int max = compressor.maxCompressedLength(byteLength);
      ByteBuffer out =
          spare != null && spare.capacity() >= max
              ? spare.clear()
              : in.isDirect() ? ByteBuffer.allocateDirect(max) : ByteBuffer.allocate(max);
      int n = compressor.compress(in, 0, byteLength, out, 0, out.capacity());
      if (n < byteLength) {
        return new EncodedRecord(
            RecordKind.DATA_LZ4,
            byteOffset,
            byteLength,
            checksum(RecordKind.DATA_LZ4, byteOffset, in),
            out.duplicate().limit(n)); // the whole buffer stays reachable, for reuse
      }
    }
    return new EncodedRecord(
        RecordKind.DATA_RAW,
        byteOffset,
        byteLength,
        checksum(RecordKind.DATA_RAW, byteOffset, in),
        in);
  }

  private boolean compressible(ByteBuffer data) {
    ByteBuffer out = sampleOut.get();
    int n = compressor.compress(data, 0, SAMPLE_BYTES, out, 0, out.capacity());
    return n < SAMPLE_BYTES - SAMPLE_BYTES / 32;
  }

  private final ThreadLocal<ByteBuffer> sampleOut =
      ThreadLocal.withInitial(
          () -> ByteBuffer.allocateDirect(compressor.maxCompressedLength(SAMPLE_BYTES)));

  /**
   * Decompresses an LZ4 record's payload into {@code into[0, byteLength)}.
   *
   * @throws CorruptDeltaException if the payload does not decode to exactly byteLength bytes
   */
  public void decompress(
      byte[] payload, int payloadLength, byte[] into, int byteLength, String source) {
    int n;
    try {
      n = decompressor.decompress(payload, 0, payloadLength, into, 0, byteLength);
    } catch (LZ4Exception e) {
      throw new CorruptDeltaException(source, "LZ4 payload does not decode");
    }
    if (n != byteLength) {
      throw new CorruptDeltaException(
          source, "LZ4 payload decodes to " + n + " bytes, not " + byteLength);
    }
  }

  /**
   * CRC32C over kind, offset, length and the uncompressed bytes; for a zero record over kind,
   * offset and length only (its bytes are implied, and hashing gigabytes of zeros buys nothing).
   */
  public static int checksum(RecordKind kind, long byteOffset, byte[] data, int byteLength) {
    return kind == RecordKind.ZERO
        ? crc(kind, byteOffset, null, byteLength)
        : checksum(kind, byteOffset, ByteBuffer.wrap(data, 0, byteLength));
  }

  /** {@link #checksum(RecordKind, long, byte[], int)} of {@code data}, position to limit. */
  public static int checksum(RecordKind kind, long byteOffset, ByteBuffer data) {
    return crc(kind, byteOffset, data.duplicate(), data.remaining());
  }

  private static int crc(RecordKind kind, long byteOffset, ByteBuffer data, int byteLength) {
    CRC32C crc = new CRC32C();
    ByteBuffer head = ByteBuffer.allocate(13);
    head.put((byte) kind.code).putLong(byteOffset).putInt(byteLength);
    crc.update(head.array());
    if (kind != RecordKind.ZERO) {
      crc.update(data);
    }
    return (int) crc.getValue();
  }

  /** Whether {@code data[from, to)} is all zero. */
  public static boolean isZero(byte[] data, int from, int to) {
    return isZero(ByteBuffer.wrap(data, from, to - from));
  }

  private static final ByteBuffer ZEROS = ByteBuffer.allocateDirect(64 << 10);

  /** Whether {@code data} is all zero, position to limit, a vectorised compare at a time. */
  public static boolean isZero(ByteBuffer data) {
    ByteBuffer zeros = ZEROS.duplicate();
    for (int at = data.position(); at < data.limit(); at += zeros.capacity()) {
      int n = Math.min(data.limit() - at, zeros.capacity());
      if (data.slice(at, n).mismatch(zeros.limit(n)) >= 0) {
        return false;
      }
    }
    return true;
  }
}
