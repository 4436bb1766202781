package io.cbtfs.cli;

import io.cbtfs.tracker.CbtfsException;
import java.io.IOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.NoSuchFileException;

/** Turns an exception into the one line an operator reads. */
final class Errors {
  private Errors() {}

  /**
   * {@code text} with its control characters escaped ({@code \n}, {@code \t}, {@code \x7f}): a name
   * or a peer's message stays one line however it was made.
   */
  static String printable(String text) {
    StringBuilder out = new StringBuilder(text.length());
    for (int i = 0; i < text.length(); i++) {
      char c = text.charAt(i);
      switch (c) {
        case '\n' -> out.append("\\n");
        case '\t' -> out.append("\\t");
        case '\r' -> out.append("\\r");
        default -> {
          if (c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0)) {
            out.append(String.format("\\x%02x", (int) c));
          } else {
            out.append(c);
          }
        }
      }
    }
    return out.toString();
  }

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
    return e.toString();
  }
}
