package io.cbtfs.nativetests;

import static org.junit.jupiter.api.Assertions.fail;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Assumptions;

/**
 * Whether this machine can mount FUSE. Outside CI a missing piece skips the test; under CI=true it
 * fails, so a CI machine without FUSE never passes by testing nothing.
 */
final class Fuse {
  private Fuse() {}

  static void require() {
    String missing = null;
    if (!Files.exists(Path.of("/dev/fuse"))) {
      missing = "/dev/fuse";
    } else if (!Files.exists(Path.of("/usr/bin/fusermount"))
        && !Files.exists(Path.of("/bin/fusermount"))) {
      missing = "fusermount (package fuse)";
    } else if (!libfuse2Present()) {
      missing = "libfuse.so.2 (package libfuse2)";
    }
    if (missing == null) {
      return;
    }
    if ("true".equals(System.getenv("CI"))) {
      fail("FUSE is required under CI=true but " + missing + " is missing");
    }
    Assumptions.abort("FUSE not available here: " + missing + " is missing");
  }

  private static boolean libfuse2Present() {
    for (String dir :
        new String[] {
          "/lib/x86_64-linux-gnu",
          "/usr/lib/x86_64-linux-gnu",
          "/lib/aarch64-linux-gnu",
          "/usr/lib/aarch64-linux-gnu",
          "/usr/lib",
          "/lib"
        }) {
      if (Files.exists(Path.of(dir, "libfuse.so.2"))) {
        return true;
      }
    }
    return false;
  }
}
