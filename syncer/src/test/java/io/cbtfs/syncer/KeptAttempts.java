package io.cbtfs.syncer;

import java.util.List;

/** Kept attempts for tests: records a target says it kept, that take any reuse. */
final class KeptAttempts {
  private KeptAttempts() {}

  static KeptAttempt of(long generation, List<KeptAttempt.KeptRecord> records) {
    return new KeptAttempt() {
      @Override
      public long generation() {
        return generation;
      }

      @Override
      public List<KeptRecord> records() {
        return records;
      }

      @Override
      public void reuse(int index) {}
    };
  }

  /** A kept record of {@code [byteOffset, byteOffset + byteLength)} (its header left blank). */
  static KeptAttempt.KeptRecord record(long byteOffset, int byteLength) {
    return new KeptAttempt.KeptRecord(
        byteOffset, byteLength, new byte[KeptAttempt.KeptRecord.HEADER_BYTES]);
  }
}
