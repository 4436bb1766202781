package io.cbtfs.fs;

import java.io.IOException;

/**
 * One read-only file of a {@link ReadOnlyFileSystem}: its size and bytes come from whatever
 * implements it (a stored generation of a backup). Thread-safe: any number of FUSE threads read at
 * once.
 */
public interface ServedFile {
  /** The file's size in bytes. */
  long byteSize();

  /** Its modification time, seconds since the epoch. */
  long modifiedSeconds();

  /**
   * Reads {@code byteLength} bytes at {@code byteOffset} (inside the file: the caller clamps to
   * {@link #byteSize}) into {@code into[0, byteLength)}. Bytes are checked before they are
   * returned: a damaged source throws, naming it, and never hands out wrong bytes.
   */
  void read(long byteOffset, byte[] into, int byteLength) throws IOException;

  /**
   * The first offset at or after {@code byteOffset} where data ({@code hole} false) or a hole
   * ({@code hole} true) starts, as far as the source knows its holes: {@link #byteSize} when there
   * is none.
   */
  long next(long byteOffset, boolean hole) throws IOException;
}
