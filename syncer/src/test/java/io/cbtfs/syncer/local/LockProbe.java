package io.cbtfs.syncer.local;

import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/** Run in a JVM of its own: exits 0 if it could take the POSIX lock on the file, 3 if not. */
public final class LockProbe {
  private LockProbe() {}

  public static void main(String[] args) throws Exception {
    try (FileChannel ch = FileChannel.open(Path.of(args[0]), StandardOpenOption.WRITE)) {
      FileLock lock = ch.tryLock();
      System.exit(lock != null ? 0 : 3);
    }
  }

  /** Whether another process could take the lock on {@code file} now. */
  static boolean freeForAnotherProcess(Path file) throws Exception {
    String java = ProcessHandle.current().info().command().orElse("java");
    Process p =
        new ProcessBuilder(
                java,
                "-cp",
                System.getProperty("java.class.path"),
                LockProbe.class.getName(),
                file.toString())
            .inheritIO()
            .start();
    int code = p.waitFor();
    if (code != 0 && code != 3) {
      throw new IllegalStateException("lock probe failed with " + code);
    }
    return code == 0;
  }
}
