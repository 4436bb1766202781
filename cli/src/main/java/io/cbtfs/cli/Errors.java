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
      return "out of memory: " + e.getMessage() + " (a mount's limit is its --max-memory)";
    }
    return e.toString();
  }
}
