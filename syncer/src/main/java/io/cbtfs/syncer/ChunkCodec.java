package io.cbtfs.syncer;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
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
public final class ChunkCodec {
  private static final LZ4Factory LZ4 = LZ4Factory.nativeInstance();
  private final LZ4Compressor compressor = LZ4.fastCompressor();
  private final LZ4SafeDecompressor decompressor = LZ4.safeDecompressor();

  /** The most bytes a compressed payload of {@code byteLength} bytes may take. */
  public int maxPayload(int byteLength) {
    return compressor.maxCompressedLength(byteLength);
  }

  /** A zero record for {@code byteLength} bytes known to be zero (a hole), without reading. */
  public EncodedRecord zero(long byteOffset, int byteLength) {
    return record(RecordKind.ZERO, byteOffset, null, byteLength, null, 0);
  }

  /** A record of {@code kind} whose checksum covers {@code data} (null for zeros). */
  private static EncodedRecord record(
      RecordKind kind, long byteOffset, byte[] data, int byteLength, byte[] payload, int n) {
    return new EncodedRecord(
        kind, byteOffset, byteLength, checksum(kind, byteOffset, data, byteLength), payload, n);
  }

  /** Bytes of a long run that are compressed first, to see whether the run compresses at all. */
  static final int SAMPLE_BYTES = 64 << 10;

  /**
   * Encodes {@code data[0, byteLength)}, the image bytes at {@code byteOffset}. Zero runs become
   * zero records. A run longer than {@value #SAMPLE_BYTES} bytes is compressed only if its first
   * {@value #SAMPLE_BYTES} bytes shrink by at least 3%: incompressible data (encrypted disks,
   * media) then costs one small attempt instead of a full one. A raw record's payload is {@code
   * data} itself, not a copy: the caller keeps the buffer until the record is written.
   */
  public EncodedRecord encode(long byteOffset, byte[] data, int byteLength) {
    return encode(byteOffset, data, byteLength, null);
  }

  /**
   * {@link #encode(long, byte[], int)}, compressing into {@code spare} when it is large enough
   * ({@link #maxPayload}) instead of a new array: a pipeline that keeps its buffers allocates
   * nothing per record. The caller keeps {@code spare} until the record is written.
   */
  public EncodedRecord encode(long byteOffset, byte[] data, int byteLength, byte[] spare) {
    if (isZero(data, 0, byteLength)) {
      return zero(byteOffset, byteLength);
    }
    if (byteLength <= SAMPLE_BYTES || compressible(data)) {
      int max = compressor.maxCompressedLength(byteLength);
      byte[] out = spare != null && spare.length >= max ? spare : new byte[max];
      int n = compressor.compress(data, 0, byteLength, out, 0, out.length);
      if (n < byteLength) {
        return record(RecordKind.DATA_LZ4, byteOffset, data, byteLength, out, n);
      }
    }
    return record(RecordKind.DATA_RAW, byteOffset, data, byteLength, data, byteLength);
  }

  private boolean compressible(byte[] data) {
    byte[] out = sampleOut.get();
    int n = compressor.compress(data, 0, SAMPLE_BYTES, out, 0, out.length);
    return n < SAMPLE_BYTES - SAMPLE_BYTES / 32;
  }

  private final ThreadLocal<byte[]> sampleOut =
      ThreadLocal.withInitial(() -> new byte[compressor.maxCompressedLength(SAMPLE_BYTES)]);

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
    CRC32C crc = new CRC32C();
    ByteBuffer head = ByteBuffer.allocate(13);
    head.put((byte) kind.code).putLong(byteOffset).putInt(byteLength);
    crc.update(head.array());
    if (kind != RecordKind.ZERO) {
      crc.update(data, 0, byteLength);
    }
    return (int) crc.getValue();
  }

  /** Whether {@code data[from, to)} is all zero, a long at a time. */
  public static boolean isZero(byte[] data, int from, int to) {
    ByteBuffer b = ByteBuffer.wrap(data).order(ByteOrder.nativeOrder());
    int i = from;
    for (; i + 8 <= to; i += 8) {
      if (b.getLong(i) != 0) {
        return false;
      }
    }
    for (; i < to; i++) {
      if (data[i] != 0) {
        return false;
      }
    }
    return true;
  }
}
