package io.cbtfs.syncer;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;

/**
 * Walks a delta file that was verified already (a replica's journal: checked as it arrived, or
 * again after a crash), handing over each record's bytes. A raw payload is read into one reused
 * direct buffer, so it reaches the replica with two kernel copies and no checksum pass; an LZ4
 * record is decoded. Only what keeps the walk itself in bounds is checked here: the checksums were
 * checked before.
 */
public final class VerifiedDeltaWalk {
  /** Receives each record, in file order. */
  @FunctionalInterface
  public interface Sink {
    /**
     * The image bytes at {@code offset}: {@code bytes} from its position to its limit, reused after
     * the call; null for a zero record of {@code length} bytes.
     */
    void accept(long offset, ByteBuffer bytes, int length) throws IOException;
  }

  private VerifiedDeltaWalk() {}

  /** Walks every record of {@code delta}; returns its header. */
  public static DeltaHeader walk(FileChannel delta, String source, Sink sink) throws IOException {
    byte[] h = new byte[DeltaHeader.BYTES];
    read(delta, ByteBuffer.wrap(h), DeltaHeader.BYTES, 0, source);
    DeltaHeader header = DeltaHeader.decode(h, source);
    RecordCodec codec = new RecordCodec();
    byte[] head = new byte[RecordHeader.BYTES];
    ByteBuffer raw = ByteBuffer.allocateDirect(0);
    byte[] payload = new byte[0];
    byte[] bytes = new byte[0];
    long at = DeltaHeader.BYTES;
    while (true) {
      // a trailer is longer than a record's header
      read(delta, ByteBuffer.wrap(head), RecordHeader.BYTES, at, source);
      RecordHeader r = RecordHeader.decode(head);
      if (r.marker() == RecordKind.TRAILER) {
        return header;
      }
      RecordKind kind = RecordKind.of(r.marker());
      if (kind == null) {
        throw new CorruptDeltaException(source, "unknown record kind " + r.marker() + " at " + at);
      }
      int length = r.length();
      int payloadLength = r.payloadLength();
      if (length <= 0 || length > DeltaReader.MAX_RECORD_BYTES || payloadLength < 0) {
        throw new CorruptDeltaException(source, "record at " + at + " is out of bounds");
      }
      at += RecordHeader.BYTES;
      switch (kind) {
        case ZERO -> sink.accept(r.offset(), null, length);
        case DATA_RAW -> {
          if (raw.capacity() < length) {
            raw = ByteBuffer.allocateDirect(length);
          }
          read(delta, raw, length, at, source);
          sink.accept(r.offset(), raw.flip(), length);
        }
        case DATA_LZ4 -> {
          if (payload.length < payloadLength) {
            payload = new byte[payloadLength];
          }
          if (bytes.length < length) {
            bytes = new byte[length];
          }
          read(delta, ByteBuffer.wrap(payload), payloadLength, at, source);
          codec.decompress(payload, payloadLength, bytes, length, source);
          sink.accept(r.offset(), ByteBuffer.wrap(bytes, 0, length), length);
        }
        default -> throw new IllegalStateException(kind.name());
      }
      at += payloadLength;
    }
  }

  /** Fills {@code b} with {@code length} bytes of {@code ch} at {@code at}. */
  private static void read(FileChannel ch, ByteBuffer b, int length, long at, String source)
      throws IOException {
    b.clear().limit(length);
    while (b.hasRemaining()) {
      if (ch.read(b, at + b.position()) < 0) {
        throw new CorruptDeltaException(source, "ends inside a record");
      }
    }
  }
}
