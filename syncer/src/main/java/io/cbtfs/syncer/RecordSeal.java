package io.cbtfs.syncer;

import io.cbtfs.syncer.crypto.ObjectSeal;
import java.nio.ByteBuffer;
import java.util.zip.CRC32C;

/**
 * Seals and opens the records of one delta (docs/FORMAT.md, "Encryption"): each record, its 21-byte
 * header and its payload together, becomes the payload of a {@link RecordKind#SEALED} record whose
 * own header says only how long it is (offset and length 0, checksum the CRC32C of the sealed
 * bytes, so a receiver without the key still checks the framing). The associated data is the
 * delta's header and the record's index: a record moved to another delta or place fails to open.
 * The last sealed record is the end mark (record count and byte sum), so a delta cut after a record
 * boundary, trailer rewritten, fails too.
 *
 * <p>Sealing is for the one thread that writes the delta (it reuses its buffers); opening is
 * thread-safe.
 */
public final class RecordSeal {
  /** The end mark's first byte, where a record kind would stand. */
  static final byte END = (byte) RecordKind.TRAILER;

  static final int END_BYTES = 1 + 8 + 8;

  private final ObjectSeal seal;
  private final byte[] header;
  private byte[] payloadCopy = new byte[0]; // the payload in an array (it may be direct)
  private byte[] sealed = new byte[0];

  /**
   * @param header the delta's header, as encoded: every record is bound to it
   */
  public RecordSeal(ObjectSeal seal, DeltaHeader header) {
    this.seal = seal;
    this.header = header.encode();
  }

  /**
   * Record {@code index}'s header and payload, sealed as one ({@link ObjectSeal#sealInto}, without
   * joining them) into this seal's buffer: the view is valid until the next record is sealed.
   */
  ByteBuffer seal(byte[] head, ByteBuffer payload, long index) {
    int n = payload == null ? 0 : payload.remaining();
    if (payloadCopy.length < n) {
      payloadCopy = new byte[n];
    }
    if (n > 0) {
      payload.duplicate().get(payloadCopy, 0, n);
    }
    int need = ObjectSeal.OVERHEAD + head.length + n;
    if (sealed.length < need) {
      sealed = new byte[need];
    }
    return ByteBuffer.wrap(
        sealed, 0, seal.sealInto(head, head.length, payloadCopy, n, aad(index), sealed));
  }

  /** The end mark, sealed as record {@code index}. */
  ByteBuffer sealEnd(long index, long dataBytes) {
    byte[] end = ByteBuffer.allocate(END_BYTES).put(END).putLong(index).putLong(dataBytes).array();
    return ByteBuffer.wrap(seal.seal(end, 0, end.length, aad(index)));
  }

  /** The plaintext of sealed record {@code index}, {@code sealed[0, length)}. */
  byte[] open(byte[] sealed, int length, long index, String where) {
    return seal.open(sealed, 0, length, aad(index), where);
  }

  private byte[] aad(long index) {
    return ByteBuffer.allocate(header.length + 8).put(header).putLong(index).array();
  }

  /** The clear header a sealed record ({@code sealed[0, length)}) travels under. */
  static byte[] outerHeader(byte[] sealed, int length) {
    return ByteBuffer.allocate(RecordHeader.BYTES)
        .put((byte) RecordKind.SEALED)
        .putLong(0)
        .putInt(0)
        .putInt(length)
        .putInt(crc(sealed, length))
        .array();
  }

  static int crc(byte[] b, int length) {
    CRC32C c = new CRC32C();
    c.update(b, 0, length);
    return (int) c.getValue();
  }
}
