package io.cbtfs.syncer;

/** How a record's bytes travel. Codes are part of the format (docs/FORMAT.md). */
public enum RecordKind {
  /** LZ4 block, compressed smaller than the data. */
  DATA_LZ4(1),
  /** The bytes as they are: LZ4 did not shrink them. */
  DATA_RAW(2),
  /** All zero: no payload. */
  ZERO(3);

  /** The trailer's marker, where a record kind would stand. */
  static final int TRAILER = 0xFF;

  /**
   * A sealed record's marker (docs/FORMAT.md, "Encryption"): its payload is a whole record (header
   * and payload), or the end mark, sealed under the delta's key.
   */
  static final int SEALED = 4;

  final int code;

  RecordKind(int code) {
    this.code = code;
  }

  static RecordKind of(int code) {
    for (RecordKind k : values()) {
      if (k.code == code) {
        return k;
      }
    }
    return null;
  }
}
