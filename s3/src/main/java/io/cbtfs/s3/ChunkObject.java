package io.cbtfs.s3;

import io.cbtfs.syncer.BlockHashes;
import io.cbtfs.syncer.EncodedRecord;
import io.cbtfs.syncer.RecordCodec;
import io.cbtfs.syncer.RecordKind;
import io.cbtfs.syncer.crypto.EncryptionKey;
import io.cbtfs.syncer.crypto.ObjectSeal;
import io.cbtfs.tracker.CbtfsException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.Arrays;
import java.util.HexFormat;
import net.jpountz.lz4.LZ4Exception;
import net.jpountz.lz4.LZ4Factory;
import net.jpountz.lz4.LZ4SafeDecompressor;

/**
 * A chunk object: a run of image bytes, LZ4-compressed when that shrinks it, named by the SHA-256
 * of the uncompressed bytes. The name is the checksum: a reader decodes and hashes, and refuses a
 * chunk whose bytes do not match its name. Layout: magic {@code CBTFSCK1}, kind (1 LZ4, 2 raw),
 * uncompressed length (int, big-endian), payload.
 *
 * <p>Under a key, a chunk is named by {@link io.cbtfs.syncer.crypto.ChunkIds} (an HMAC of its
 * bytes) and stored sealed: magic {@code CBTFSCE1}, then kind, length and payload sealed ({@link
 * ObjectSeal}) with the magic and the name as associated data. A reader takes either form (a store
 * may hold generations from before encryption began): a clear chunk must hash to its name with
 * SHA-256, which no chunk named by an HMAC can. Thread-safe.
 */
final class ChunkObject {
  private static final byte[] MAGIC = "CBTFSCK1".getBytes(StandardCharsets.US_ASCII);
  private static final byte[] SEALED = "CBTFSCE1".getBytes(StandardCharsets.US_ASCII);
  static final int HEADER_BYTES = MAGIC.length + 1 + 4;
  private static final byte LZ4 = 1;
  private static final byte RAW = 2;

  /** The largest chunk a reader accepts: bounds memory against a damaged or hostile store. */
  static final int MAX_BYTES = 16 << 20;

  private final RecordCodec codec = new RecordCodec();
  private final LZ4SafeDecompressor decompressor = LZ4Factory.nativeInstance().safeDecompressor();
  private final EncryptionKey key; // null: chunks in clear, named by SHA-256

  ChunkObject() {
    this(null);
  }

  ChunkObject(EncryptionKey key) {
    this.key = key;
  }

  /** The name of {@code data[0, length)}: its SHA-256, or under a key its keyed hash. */
  byte[] name(byte[] data, int length) {
    return key == null ? hash(data, length) : key.chunkIds().of(data, length);
  }

  static byte[] hash(byte[] data, int length) {
    MessageDigest d = BlockHashes.sha256();
    d.update(data, 0, length);
    return d.digest();
  }

  static String hex(byte[] hash) {
    return HexFormat.of().formatHex(hash);
  }

  /**
   * A chunk object as its header and its payload, kept apart so that a raw chunk travels from the
   * caller's array without a copy.
   */
  record Encoded(byte[] head, byte[] payload, int payloadLength, byte[] compressedInto) {
    int length() {
      return head.length + payloadLength;
    }

    java.io.InputStream stream() {
      return new java.io.SequenceInputStream(
          new java.io.ByteArrayInputStream(head),
          new java.io.ByteArrayInputStream(payload, 0, payloadLength));
    }

    byte[] toBytes() {
      byte[] out = Arrays.copyOf(head, length());
      System.arraycopy(payload, 0, out, head.length, payloadLength);
      return out;
    }
  }

  /**
   * The object for {@code data[0, length)}: compressed with the delta's codec, which tries a 64 KiB
   * sample first, so incompressible data (encrypted disks) costs one small attempt.
   */
  Encoded encode(byte[] data, int length) {
    return encode(data, length, null, name(data, length));
  }

  /**
   * {@link #encode(byte[], int)}, compressing into {@code spare} when it is large enough: an
   * uploader that keeps the payload array of its last compressed chunk allocates none per chunk.
   * {@code name} is the chunk's ({@link #name}): a sealed chunk is bound to it. A sealed chunk's
   * bytes are in a new array.
   */
  Encoded encode(byte[] data, int length, byte[] spare, byte[] name) {
    return encode(data, length, spare, name, key == null ? null : new byte[sealedBytes(length)]);
  }

  /**
   * {@link #encode(byte[], int, byte[], byte[])}, a sealed chunk sealed into {@code sealInto} (at
   * least {@link #sealedBytes} of {@code length} long; unused in clear): an uploader that reuses
   * its arrays allocates none per chunk.
   */
  Encoded encode(byte[] data, int length, byte[] spare, byte[] name, byte[] sealInto) {
    EncodedRecord r =
        codec.encode(
            0, ByteBuffer.wrap(data, 0, length), spare == null ? null : ByteBuffer.wrap(spare));
    boolean lz4 = r.kind() == RecordKind.DATA_LZ4;
    byte[] head = new byte[HEADER_BYTES];
    ByteBuffer.wrap(head).put(MAGIC).put(lz4 ? LZ4 : RAW).putInt(length);
    // a zero run (never sent here) would travel raw
    Encoded clear =
        lz4
            ? new Encoded(head, r.payload().array(), r.payloadLength(), r.payload().array())
            : new Encoded(head, data, length, null);
    return key == null ? clear : seal(clear, name, sealInto);
  }

  /** Whether chunks are sealed: then {@link #encode} needs an array to seal into. */
  boolean seals() {
    return key != null;
  }

  /** The most bytes a chunk of {@code length} bytes takes sealed (after the sealed magic). */
  static int sealedBytes(int length) {
    return ObjectSeal.OVERHEAD + HEADER_BYTES - MAGIC.length + length;
  }

  /** {@code clear} sealed under the key, bound to its {@code name}, into {@code out}. */
  private Encoded seal(Encoded clear, byte[] name, byte[] out) {
    byte[] head = Arrays.copyOfRange(clear.head(), MAGIC.length, clear.head().length);
    int need = ObjectSeal.OVERHEAD + head.length + clear.payloadLength();
    if (out == null || out.length < need) {
      throw new IllegalArgumentException("sealing a chunk needs " + need + " bytes");
    }
    int n =
        key.seal()
            .sealInto(head, head.length, clear.payload(), clear.payloadLength(), aad(name), out);
    return new Encoded(SEALED.clone(), out, n, clear.compressedInto());
  }

  private static byte[] aad(byte[] name) {
    byte[] aad = Arrays.copyOf(SEALED, SEALED.length + name.length);
    System.arraycopy(name, 0, aad, SEALED.length, name.length);
    return aad;
  }

  /**
   * The uncompressed bytes of a chunk object, checked against {@code hashHex}.
   *
   * @throws DamagedObjectException naming {@code where} if the object is damaged
   */
  byte[] decode(byte[] object, String hashHex, String where) {
    if (startsWith(object, SEALED)) {
      if (key == null) {
        throw new CbtfsException(where + " is encrypted: give its key with --encrypt-key");
      }
      byte[] name = java.util.HexFormat.of().parseHex(hashHex);
      byte[] inner =
          key.seal().open(object, SEALED.length, object.length - SEALED.length, aad(name), where);
      byte[] data = decodeBody(inner, 0, where); // the clear form after its magic
      if (!hex(name(data, data.length)).equals(hashHex)) {
        throw new DamagedObjectException(where, "chunk bytes do not match its name (keyed hash)");
      }
      return data;
    }
    if (!startsWith(object, MAGIC)) {
      throw new DamagedObjectException(where, "not a cbtfs chunk");
    }
    byte[] data = decodeBody(object, MAGIC.length, where);
    if (!hex(hash(data, data.length)).equals(hashHex)) {
      throw new DamagedObjectException(where, "chunk bytes do not match its name (SHA-256)");
    }
    return data;
  }

  private static boolean startsWith(byte[] object, byte[] magic) {
    return object.length >= magic.length
        && Arrays.equals(object, 0, magic.length, magic, 0, magic.length);
  }

  /** The bytes of a chunk's kind, length and payload, {@code object[at, object.length)}. */
  private byte[] decodeBody(byte[] object, int at, String where) {
    int payloadAt = at + HEADER_BYTES - MAGIC.length;
    if (object.length < payloadAt) {
      throw new DamagedObjectException(where, "not a cbtfs chunk");
    }
    ByteBuffer b = ByteBuffer.wrap(object, at, payloadAt - at);
    byte kind = b.get();
    int length = b.getInt();
    if (length <= 0 || length > MAX_BYTES) {
      throw new DamagedObjectException(where, "bad chunk length " + length);
    }
    byte[] data = new byte[length];
    int payload = object.length - payloadAt;
    if (kind == RAW && payload == length) {
      System.arraycopy(object, payloadAt, data, 0, length);
    } else if (kind == LZ4) {
      int n;
      try {
        n = decompressor.decompress(object, payloadAt, payload, data, 0, length);
      } catch (LZ4Exception e) {
        throw new DamagedObjectException(where, "chunk payload does not decode");
      }
      if (n != length) {
        throw new DamagedObjectException(where, "chunk decodes to " + n + " bytes, not " + length);
      }
    } else {
      throw new DamagedObjectException(where, "bad chunk kind " + kind + " or payload length");
    }
    return data;
  }
}
