package io.cbtfs.nbd;

import java.io.IOException;
import java.util.List;
import java.util.Optional;

/**
 * The images a server exports, each by its file name: the port the mount implements. Thread-safe:
 * every session calls it.
 */
public interface ExportCatalog {
  /** The names of the images served now. */
  List<String> names() throws IOException;

  /**
   * Opens an image for one session.
   *
   * @param writable whether the session may write (only if the server's exports are writable)
   * @return empty if no image has that name
   */
  Optional<ExportedImage> open(String name, boolean writable) throws IOException;
}
