package io.cbtfs.syncer;

import io.cbtfs.syncer.crypto.EncryptionKey;
import java.io.DataInputStream;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.List;

/**
 * Random access to a stored delta (an archive's {@code gen-N.cbtd}): {@link #of} reads only the
 * record headers and checks them as {@link DeltaReader} does (bounds, order, the trailer's count,
 * byte sum and SHA-256 chain over the headers), so the index is the delta's own; {@link #read} then
 * fetches one record's payload, decodes it and checks its CRC32C before a byte is used.
 *
 * <p>A sealed delta hides its records' places inside the seals: {@link #of(FileChannel, String,
 * EncryptionKey)} indexes it by reading it whole through {@link DeltaReader} under the key (every
 * seal, the end mark and the trailer checked), noting where each sealed record lies; a read then
 * opens just that record again through {@link RecordSeal}. The index reads through the file it was
 * made from (a local channel, or a file a receiver serves: {@link PositionalFile}), which its
 * caller keeps open while it reads and closes after.
 */
public final class DeltaIndex {
  /**
   * One record of the delta.
   *
   * @param payloadAt where its payload starts in the file (a sealed record's: the sealed bytes)
   * @param payloadLength its payload's length (a sealed record's: the sealed bytes')
   * @param sealedIndex its index among the delta's sealed records, or -1 if it is in clear
   */
  public record Entry(
      RecordKind kind,
      long byteOffset,
      int byteLength,
      int payloadLength,
      int checksum,
      long payloadAt,
      long sealedIndex) {
    public Entry(
        RecordKind kind,
        long byteOffset,
        int byteLength,
        int payloadLength,
        int checksum,
        long payloadAt) {
      this(kind, byteOffset, byteLength, payloadLength, checksum, payloadAt, -1);
    }
  }

  private static final RecordCodec CODEC = new RecordCodec();

  /** Enough for the trailer after its marker: one read of it, not one per field. */
  private static final int TRAILER_READ_BYTES = 64;

  private final PositionalFile file;
  private final String source;
  private final DeltaHeader header;
  private final List<Entry> entries;
  private final RecordSeal seal; // null: records in clear

  private DeltaIndex(
      PositionalFile file,
      String source,
      DeltaHeader header,
      List<Entry> entries,
      RecordSeal seal) {
    this.file = file;
    this.source = source;
    this.header = header;
    this.entries = entries;
    this.seal = seal;
  }

  public DeltaHeader header() {
    return header;
  }

  public List<Entry> entries() {
    return entries;
  }

  /**
   * Indexes the delta in {@code file}.
   *
   * @throws CorruptDeltaException naming {@code source} if a header, the trailer or the chain is
   *     wrong
   */
  public static DeltaIndex of(FileChannel file, String source) throws IOException {
    return of(file, source, null);
  }

  /**
   * Indexes the delta in {@code file}, whose records may be sealed with {@code key}.
   *
   * @throws CorruptDeltaException naming {@code source} if a header, the trailer or the chain is
   *     wrong, or if the delta is sealed and {@code key} is null or another key
   */
  public static DeltaIndex of(FileChannel file, String source, EncryptionKey key)
      throws IOException {
    return of(PositionalFile.of(file), source, key);
  }

  /** {@link #of(FileChannel, String, EncryptionKey)} of any positional file. */
  public static DeltaIndex of(PositionalFile file, String source, EncryptionKey key)
      throws IOException {
    byte[] h = new byte[DeltaHeader.BYTES];
    read(file, h, DeltaHeader.BYTES, 0, source, "header");
    DeltaHeader header = DeltaHeader.decode(h, source);
    if (header.sealed()) {
      return ofSealed(file, source, key);
    }
    MessageDigest chain = BlockHashes.sha256();
    List<Entry> entries = new ArrayList<>();
    byte[] head = new byte[RecordHeader.BYTES];
    long at = DeltaHeader.BYTES;
    long dataBytes = 0;
    long nextOffset = 0;
    long size = file.byteSize();
    while (true) {
      read(file, head, 1, at, source, "record " + entries.size());
      if ((head[0] & 0xff) == RecordKind.TRAILER) {
        DeltaReader.readTrailer(
            new DataInputStream(file.stream(at + 1, TRAILER_READ_BYTES)),
            source,
            entries.size(),
            dataBytes,
            chain);
        return new DeltaIndex(file, source, header, List.copyOf(entries), null);
      }
      read(file, head, RecordHeader.BYTES, at, source, "record " + entries.size());
      RecordHeader r = RecordHeader.decode(head);
      RecordKind kind = RecordKind.of(r.marker());
      String where = "record " + entries.size() + " at offset " + r.offset();
      if (kind == null) {
        throw new CorruptDeltaException(
            source, "unknown record kind " + r.marker() + " at " + where);
      }
      DeltaReader.checkRecord(kind, r, header, nextOffset, CODEC, source, where);
      int length = r.length();
      int payload = r.payloadLength();
      if (at + RecordHeader.BYTES + payload > size) {
        throw new CorruptDeltaException(source, where + ": bad payload length " + payload);
      }
      chain.update(head);
      entries.add(
          new Entry(kind, r.offset(), length, payload, r.checksum(), at + RecordHeader.BYTES));
      dataBytes += length;
      nextOffset = r.offset() + length;
      at += RecordHeader.BYTES + payload;
    }
  }

  /**
   * A sealed delta, read whole under {@code key} by {@link DeltaReader} (the one parser of sealed
   * records): each record it hands over lies between where the one before ended and where the
   * reader stands now, as it reads no further than the record's sealed bytes.
   */
  private static DeltaIndex ofSealed(PositionalFile file, String source, EncryptionKey key)
      throws IOException {
    List<Entry> entries = new ArrayList<>();
    long[] start = {DeltaHeader.BYTES};
    Position in = new Position(file.stream(0, 1 << 20));
    DeltaReader.Summary s =
        DeltaReader.read(
            in,
            source,
            (kind, offset, data, length) -> {
              long end = in.position;
              entries.add(
                  new Entry(
                      kind,
                      offset,
                      length,
                      (int) (end - start[0] - RecordHeader.BYTES),
                      RecordCodec.checksum(kind, offset, data, length),
                      start[0] + RecordHeader.BYTES,
                      entries.size()));
              start[0] = end;
            },
            key);
    return new DeltaIndex(
        file, source, s.header(), List.copyOf(entries), new RecordSeal(key.seal(), s.header()));
  }

  /**
   * The bytes of record {@code e} of this delta, read from its file, decoded and checked against
   * the record's checksum; a sealed record is opened under the delta's key, and its seal must hold
   * the very record the index noted.
   *
   * @throws CorruptDeltaException naming the delta and the record if they do not match
   * @throws io.cbtfs.syncer.crypto.SealBrokenException if the sealed bytes fail to open
   */
  public byte[] read(Entry e) throws IOException {
    String where = "record at offset " + e.byteOffset();
    if (e.kind() == RecordKind.ZERO) {
      return new byte[e.byteLength()];
    }
    byte[] payload;
    if (e.sealedIndex() >= 0) {
      byte[] sealed = new byte[e.payloadLength()];
      read(file, sealed, sealed.length, e.payloadAt(), source, where);
      byte[] inner =
          seal.open(sealed, sealed.length, e.sealedIndex(), source + " record " + e.sealedIndex());
      RecordHeader r = RecordHeader.decode(java.util.Arrays.copyOf(inner, RecordHeader.BYTES));
      if (r.marker() != e.kind().code
          || r.offset() != e.byteOffset()
          || r.length() != e.byteLength()
          || r.checksum() != e.checksum()) {
        throw new CorruptDeltaException(source, where + ": not the record its index noted");
      }
      payload = java.util.Arrays.copyOfRange(inner, RecordHeader.BYTES, inner.length);
    } else {
      payload = new byte[e.payloadLength()];
      read(file, payload, payload.length, e.payloadAt(), source, where);
    }
    byte[] bytes;
    if (e.kind() == RecordKind.DATA_RAW) {
      if (payload.length != e.byteLength()) {
        throw new CorruptDeltaException(source, where + ": bad payload length " + payload.length);
      }
      bytes = payload; // already the bytes: no copy
    } else {
      bytes = new byte[e.byteLength()];
      CODEC.decompress(payload, payload.length, bytes, bytes.length, source + " " + where);
    }
    if (RecordCodec.checksum(e.kind(), e.byteOffset(), bytes, bytes.length) != e.checksum()) {
      throw new CorruptDeltaException(source, where + ": checksum mismatch");
    }
    return bytes;
  }

  private static void read(
      PositionalFile file, byte[] into, int length, long at, String source, String what)
      throws IOException {
    ByteBuffer b = ByteBuffer.wrap(into, 0, length);
    while (b.hasRemaining()) {
      if (file.read(b, at + b.position()) < 0) {
        throw new CorruptDeltaException(source, "truncated in " + what);
      }
    }
  }

  /** Counts the bytes read through it: where the reader above it stands. */
  private static final class Position extends FilterInputStream {
    long position;

    Position(InputStream in) {
      super(in);
    }

    @Override
    public int read() throws IOException {
      int b = super.read();
      if (b >= 0) {
        position++;
      }
      return b;
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
      int n = super.read(b, off, len);
      if (n > 0) {
        position += n;
      }
      return n;
    }

    @Override
    public long skip(long n) throws IOException {
      long skipped = super.skip(n);
      position += skipped;
      return skipped;
    }
  }
}
