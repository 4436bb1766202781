package io.cbtfs.fs;

import java.io.IOException;

/**
 * A {@link ServedFile} that also takes writes (a generation under an overlay). Its size never
 * changes. Thread-safe as {@link ServedFile} is.
 */
public interface WritableFile extends ServedFile {
  /**
   * Writes {@code from[0, byteLength)} at {@code byteOffset}; once it returns, the bytes are what
   * {@link #read} returns there, also after the process dies (not yet after a power loss: that is
   * {@link #force}).
   *
   * @throws ErrnoException EFBIG for bytes past {@link #byteSize}
   */
  void write(long byteOffset, byte[] from, int byteLength) throws IOException;

  /** Makes every write returned so far durable (fsync). */
  void force() throws IOException;
}
