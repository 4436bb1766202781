package io.cbtfs.fs;

import java.io.IOException;
import java.util.List;

/** The flat set of read-only files a {@link ReadOnlyFileSystem} serves. */
public interface ServedFiles {
  /** The file names, sorted. */
  List<String> names() throws IOException;

  /** The file of that name, or null. */
  ServedFile file(String name) throws IOException;
}
