package io.cbtfs.syncer;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;

/**
 * Walks a delta file that was verified already (a replica's journal: checked as it arrived, or
 * again after a crash), handing over where each record goes. A raw record is given by its payload's
 * position in the file, so the caller can have the kernel copy it ({@link FileChannel#transferTo})
 * instead of reading it through the heap; an LZ4 record is decoded. Only what keeps the walk itself
 * in bounds is checked here: the checksums were checked before.
 */
public final class VerifiedDeltaWalk {
  /** Receives each record, in file order. */
  public interface Sink {
    /** {@code length} image bytes at {@code imageOffset} are the file's bytes at {@code at}. */
    void raw(long imageOffset, int length, long at) throws IOException;

    /** A zero record ({@code data} null) or a decoded LZ4 one; {@code data} is reused after. */
    void bytes(RecordKind kind, long imageOffset, byte[] data, int length) throws IOException;
  }

  private VerifiedDeltaWalk() {}

  /** Walks every record of {@code delta}; returns its header. */
  public static DeltaHeader walk(FileChannel delta, String source, Sink sink) throws IOException {
    byte[] h = new byte[DeltaHeader.BYTES];
    read(delta, ByteBuffer.wrap(h), 0, source);
    DeltaHeader header = DeltaHeader.decode(h, source);
    ChunkCodec codec = new ChunkCodec();
    ByteBuffer head = ByteBuffer.allocate(DeltaWriter.RECORD_HEADER_BYTES);
    byte[] payload = new byte[0];
    byte[] bytes = new byte[0];
    long at = DeltaHeader.BYTES;
    while (true) {
      read(delta, head.clear(), at, source); // a trailer is longer than a record's header
      int marker = head.get(0) & 0xff;
      if (marker == RecordKind.TRAILER) {
        return header;
      }
      RecordKind kind = RecordKind.of(marker);
      if (kind == null) {
        throw new CorruptDeltaException(source, "unknown record kind " + marker + " at " + at);
      }
      long offset = head.getLong(1);
      int length = head.getInt(9);
      int payloadLength = head.getInt(13);
      if (length <= 0 || length > DeltaReader.MAX_RECORD_BYTES || payloadLength < 0) {
        throw new CorruptDeltaException(source, "record at " + at + " is out of bounds");
      }
      at += DeltaWriter.RECORD_HEADER_BYTES;
      switch (kind) {
        case DATA_RAW -> sink.raw(offset, length, at);
        case ZERO -> sink.bytes(kind, offset, null, length);
        case DATA_LZ4 -> {
          if (payload.length < payloadLength) {
            payload = new byte[payloadLength];
          }
          if (bytes.length < length) {
            bytes = new byte[length];
          }
          read(delta, ByteBuffer.wrap(payload, 0, payloadLength), at, source);
          codec.decode(kind, payload, payloadLength, bytes, length, source);
          sink.bytes(RecordKind.DATA_RAW, offset, bytes, length);
        }
        default -> throw new IllegalStateException(kind.name());
      }
      at += payloadLength;
    }
  }

  private static void read(FileChannel ch, ByteBuffer b, long at, String source)
      throws IOException {
    while (b.hasRemaining()) {
      if (ch.read(b, at + b.position()) < 0) {
        throw new CorruptDeltaException(source, "ends inside a record");
      }
    }
  }
}
