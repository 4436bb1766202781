package io.cbtfs.cli;

import io.cbtfs.tracker.CbtfsException;
import java.io.IOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.NoSuchFileException;

/** Turns an exception into the one line an operator reads. */
final class Errors {
  private Errors() {}

  static String describe(Throwable e) {
    String line = what(e);
    if (!(e instanceof OutOfMemoryError) && outOfMemory(e)) {
      // an upload thread's or a reader's, wrapped on its way here: the hint still applies
      return line + MEMORY_HINT;
    }
    return line;
  }

  private static final String MEMORY_HINT = " (a mount's limit is its --max-memory)";

  private static boolean outOfMemory(Throwable e) {
    for (Throwable c = e; c != null; c = c.getCause() == c ? null : c.getCause()) {
      if (c instanceof OutOfMemoryError) {
        return true;
      }
    }
    return false;
  }

  private static String what(Throwable e) {
    if (e instanceof CbtfsException || e instanceof UnsupportedOperationException) {
      return e.getMessage();
    }
    if (e instanceof NoSuchFileException n) {
      return "no such file: " + n.getFile();
    }
    if (e instanceof AccessDeniedException a) {
      return "permission denied: " + a.getFile();
    }
    if (e instanceof FileSystemException f) {
      return f.getFile()
          + ": "
          + (f.getReason() == null ? f.getClass().getSimpleName() : f.getReason());
    }
    if (e instanceof IOException) {
      return e.getMessage() == null ? e.toString() : e.getMessage();
    }
    if (e instanceof UnsatisfiedLinkError || e.getCause() instanceof UnsatisfiedLinkError) {
      return "libfuse 2 is missing: install it (Debian: apt-get install fuse libfuse2)";
    }
    if (e instanceof OutOfMemoryError) { // a mount's buffers exhausted its budget, typically
      return "out of memory: " + e.getMessage() + MEMORY_HINT;
    }
    return e.toString();
  }
}
