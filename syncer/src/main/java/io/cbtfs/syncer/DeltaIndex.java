package io.cbtfs.syncer;

import java.io.DataInputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.List;

/**
 * Random access to a stored delta (an archive's {@code gen-N.cbtd}): {@link #of} reads only the
 * record headers and checks them as {@link DeltaReader} does (bounds, order, the trailer's count,
 * byte sum and SHA-256 chain over the headers), so the index is the delta's own; {@link #read} then
 * fetches one record's payload, decodes it and checks its CRC32C before a byte is used.
 */
public final class DeltaIndex {
  /**
   * One record of the delta.
   *
   * @param payloadAt where its payload starts in the file
   */
  public record Entry(
      RecordKind kind,
      long byteOffset,
      int byteLength,
      int payloadLength,
      int checksum,
      long payloadAt) {}

  private static final RecordCodec CODEC = new RecordCodec();

  private final DeltaHeader header;
  private final List<Entry> entries;

  private DeltaIndex(DeltaHeader header, List<Entry> entries) {
    this.header = header;
    this.entries = entries;
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
    byte[] h = new byte[DeltaHeader.BYTES];
    read(file, h, DeltaHeader.BYTES, 0, source, "header");
    DeltaHeader header = DeltaHeader.decode(h, source);
    RecordCodec codec = new RecordCodec();
    MessageDigest chain = BlockHashes.sha256();
    List<Entry> entries = new ArrayList<>();
    byte[] head = new byte[RecordHeader.BYTES];
    long at = DeltaHeader.BYTES;
    long dataBytes = 0;
    long nextOffset = 0;
    long size = file.size();
    while (true) {
      read(file, head, 1, at, source, "record " + entries.size());
      if ((head[0] & 0xff) == RecordKind.TRAILER) {
        DeltaReader.readTrailer(
            new DataInputStream(Channels.newInputStream(file.position(at + 1))),
            source,
            entries.size(),
            dataBytes,
            chain);
        return new DeltaIndex(header, List.copyOf(entries));
      }
      read(file, head, RecordHeader.BYTES, at, source, "record " + entries.size());
      RecordHeader r = RecordHeader.decode(head);
      RecordKind kind = RecordKind.of(r.marker());
      String where = "record " + entries.size() + " at offset " + r.offset();
      if (kind == null) {
        throw new CorruptDeltaException(
            source, "unknown record kind " + r.marker() + " at " + where);
      }
      int length = r.length();
      if (length <= 0 || length > DeltaReader.MAX_RECORD_BYTES) {
        throw new CorruptDeltaException(source, where + ": bad length " + length);
      }
      if (r.offset() < nextOffset || r.offset() > header.imageSize() - length) {
        throw new CorruptDeltaException(source, where + ": outside the image or out of order");
      }
      int max =
          switch (kind) {
            case ZERO -> 0;
            case DATA_RAW -> length;
            case DATA_LZ4 -> codec.maxPayload(length);
          };
      int payload = r.payloadLength();
      if (payload < 0
          || payload > max
          || (kind == RecordKind.DATA_RAW && payload != length)
          || at + RecordHeader.BYTES + payload > size) {
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
   * The bytes of record {@code e} of the delta in {@code file}, decoded and checked against the
   * record's checksum.
   *
   * @throws CorruptDeltaException naming {@code source} and the record if they do not match
   */
  public static byte[] read(FileChannel file, String source, Entry e) throws IOException {
    String where = "record at offset " + e.byteOffset();
    byte[] bytes = new byte[e.byteLength()];
    if (e.kind() == RecordKind.ZERO) {
      return bytes;
    }
    if (e.kind() == RecordKind.DATA_RAW) {
      read(file, bytes, e.byteLength(), e.payloadAt(), source, where);
    } else {
      byte[] payload = new byte[e.payloadLength()];
      read(file, payload, payload.length, e.payloadAt(), source, where);
      CODEC.decompress(payload, payload.length, bytes, bytes.length, source + " " + where);
    }
    if (RecordCodec.checksum(e.kind(), e.byteOffset(), bytes, bytes.length) != e.checksum()) {
      throw new CorruptDeltaException(source, where + ": checksum mismatch");
    }
    return bytes;
  }

  private static void read(
      FileChannel file, byte[] into, int length, long at, String source, String what)
      throws IOException {
    ByteBuffer b = ByteBuffer.wrap(into, 0, length);
    while (b.hasRemaining()) {
      if (file.read(b, at + b.position()) < 0) {
        throw new CorruptDeltaException(source, "truncated in " + what);
      }
    }
  }
}
