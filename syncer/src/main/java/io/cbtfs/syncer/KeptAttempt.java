package io.cbtfs.syncer;

import java.io.IOException;
import java.util.List;

/**
 * What a target kept of an earlier delivery that failed (docs/FORMAT.md, "Resume"): the generation
 * that attempt's delta made, and the records it verified and stored, in order. A new delivery of
 * the same lineage and base may send a reference to one of them ({@link #reuse}) instead of its
 * bytes; the target copies the kept record into the new delta, so what it stores is exactly what it
 * would have been sent.
 */
public interface KeptAttempt {
  /** The generation of the attempt whose records were kept. */
  long generation();

  /** The kept records, ascending and apart. */
  List<KeptRecord> records();

  /**
   * Has the target copy kept record {@code index} into the delta at this point of the stream: the
   * caller has written every byte before it.
   */
  void reuse(int index) throws IOException;

  /**
   * One kept record.
   *
   * @param header its 21-byte header as it stands in the delta (the trailer's chain covers it)
   */
  record KeptRecord(long byteOffset, int byteLength, byte[] header) {
    /** The length of a record's header, as a kept attempt lists it. */
    public static final int HEADER_BYTES = RecordHeader.BYTES;

    /** The record whose header is {@code header} (21 bytes; offset and length unchecked). */
    public static KeptRecord of(byte[] header) {
      RecordHeader h = RecordHeader.decode(header);
      return new KeptRecord(h.offset(), h.length(), header.clone());
    }

    public long end() {
      return byteOffset + byteLength;
    }
  }
}
