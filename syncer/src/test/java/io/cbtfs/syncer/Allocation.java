package io.cbtfs.syncer;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/** What {@code du} sees of a file: the bytes the file system allocated for it. */
public final class Allocation {
  private Allocation() {}

  /**
   * Bytes allocated to {@code file}, from {@code stat -c %b} (512-byte units): the JDK's attributes
   * give only the size.
   */
  public static long allocatedBytes(Path file) throws IOException {
    Process p = new ProcessBuilder("stat", "-c", "%b", file.toString()).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.US_ASCII).strip();
    try {
      if (!p.waitFor(30, TimeUnit.SECONDS) || p.exitValue() != 0) {
        throw new IOException("stat " + file + " failed: " + out);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted", e);
    }
    return Long.parseLong(out) * 512;
  }

  /** A sparse file of {@code size} bytes: a hole, nothing allocated. */
  public static void sparseFile(Path file, long size) throws IOException {
    try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
      f.setLength(size);
    }
  }
}
