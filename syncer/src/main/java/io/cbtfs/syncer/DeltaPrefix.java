package io.cbtfs.syncer;

import java.io.BufferedInputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The verified records at the start of a delta that may be cut anywhere (what a receiver kept of a
 * transfer that failed): every record is checked as {@link DeltaReader} does (bounds, order,
 * decoding, checksum); the prefix ends before the first record that is not complete, or at the
 * trailer. A complete record that fails a check is damage, not a cut: the whole file is refused.
 * Sealed deltas are refused (their records are bound to their delta's header and place).
 */
public final class DeltaPrefix {
  /**
   * One verified record of the prefix.
   *
   * @param fileOffset where its header starts in the file
   * @param fileBytes its header and payload
   */
  public record Record(long fileOffset, int fileBytes, KeptAttempt.KeptRecord record) {}

  /** The delta's header and its complete, verified records. */
  public record Prefix(DeltaHeader header, List<Record> records) {}

  private DeltaPrefix() {}

  /**
   * Reads and verifies the prefix of {@code file}.
   *
   * @throws CorruptDeltaException if the header or a complete record fails a check, or the delta is
   *     sealed
   */
  public static Prefix scan(Path file) throws IOException {
    try (InputStream raw = new BufferedInputStream(Files.newInputStream(file), 1 << 20)) {
      DataInputStream in = new DataInputStream(raw);
      String source = file.toString();
      DeltaHeader header = DeltaReader.readHeader(in, source);
      if (header.sealed()) {
        throw new CorruptDeltaException(source, "a sealed delta cannot be resumed");
      }
      RecordCodec codec = new RecordCodec();
      List<Record> records = new ArrayList<>();
      byte[] head = new byte[RecordHeader.BYTES];
      byte[] payload = new byte[0];
      byte[] bytes = new byte[0];
      long at = DeltaHeader.BYTES;
      long nextOffset = 0;
      while (true) {
        int marker = in.read();
        if (marker < 0 || marker == RecordKind.TRAILER) {
          return new Prefix(header, records);
        }
        RecordKind kind = RecordKind.of(marker);
        String where = "record " + records.size() + " at byte " + at + " of the file";
        if (kind == null) {
          throw new CorruptDeltaException(source, where + ": unknown kind " + marker);
        }
        head[0] = (byte) marker;
        if (!readFully(in, head, 1, head.length - 1)) {
          return new Prefix(header, records);
        }
        RecordHeader h = RecordHeader.decode(head);
        DeltaReader.checkRecord(kind, h, header, nextOffset, codec, source, where);
        int p = h.payloadLength();
        if (payload.length < p) {
          payload = new byte[p];
        }
        if (!readFully(in, payload, 0, p)) {
          return new Prefix(header, records);
        }
        if (kind == RecordKind.DATA_LZ4 && bytes.length < h.length()) {
          bytes = new byte[h.length()];
        }
        DeltaReader.decoded(kind, h, payload, bytes, codec, source, where); // checked, or throws
        records.add(
            new Record(at, RecordHeader.BYTES + p, KeptAttempt.KeptRecord.of(head.clone())));
        at += RecordHeader.BYTES + p;
        nextOffset = h.offset() + h.length();
      }
    }
  }

  /** Reads {@code len} bytes; false if the stream ended first (the cut). */
  private static boolean readFully(DataInputStream in, byte[] b, int off, int len)
      throws IOException {
    try {
      in.readFully(b, off, len);
      return true;
    } catch (EOFException e) {
      return false;
    }
  }
}
