package io.cbtfs.nativetests;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;

/** Runs real command-line tools; a failure names the tool, the step and what it printed. */
final class Tools {
  private Tools() {}

  /** Runs {@code command} and returns its output; fails the test on a non-zero exit. */
  static String run(String step, List<String> command) {
    Result r = exec(command, 600);
    if (r.exitCode != 0) {
      fail(step + ": " + String.join(" ", command) + " exited " + r.exitCode + ":\n" + r.output);
    }
    return r.output;
  }

  static String run(String step, String... command) {
    return run(step, List.of(command));
  }

  /** Runs {@code command} and returns exit code and output, whatever the exit. */
  static Result exec(List<String> command, long timeoutSeconds) {
    return exec(command, timeoutSeconds, java.util.Map.of());
  }

  /** Like {@link #exec(List, long)}, with {@code env} added to the environment. */
  static Result exec(List<String> command, long timeoutSeconds, java.util.Map<String, String> env) {
    try {
      ProcessBuilder b = new ProcessBuilder(command).redirectErrorStream(true);
      b.environment().putAll(env);
      Process p = b.start();
      p.getOutputStream().close();
      byte[] out = p.getInputStream().readAllBytes();
      if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
        p.destroyForcibly();
        fail(String.join(" ", command) + " did not finish in " + timeoutSeconds + " s");
      }
      return new Result(p.exitValue(), new String(out, StandardCharsets.UTF_8));
    } catch (IOException e) {
      throw new AssertionError("cannot run " + command.get(0) + ": " + e.getMessage(), e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new AssertionError("interrupted running " + command.get(0), e);
    }
  }

  /** Skips (or under CI fails) a test whose tool is not installed. */
  static void require(String tool) {
    for (String dir : new String[] {"/usr/bin", "/bin", "/usr/sbin", "/sbin"}) {
      if (Files.isExecutable(Path.of(dir, tool))) {
        return;
      }
    }
    if ("true".equals(System.getenv("CI"))) {
      fail(tool + " is required under CI=true (bin/test installs it)");
    }
    Assumptions.abort(tool + " is not installed");
  }

  /** Writes {@code data} at {@code offset} of {@code file}, as pwrite(2) would. */
  static void pwrite(Path file, long offset, byte[] data) throws IOException {
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
      ByteBuffer buf = ByteBuffer.wrap(data);
      while (buf.hasRemaining()) {
        ch.write(buf, offset + buf.position());
      }
    }
  }

  /**
   * Mounts a tmpfs with {@code options} ({@code size=8m}, say) on {@code dir}, made if missing: a
   * small disk that fills. Unmount it with {@code umount}.
   */
  static Path tmpfs(Path dir, String options) throws IOException {
    Files.createDirectories(dir);
    Result mounted = exec(list("mount", "-t", "tmpfs", "-o", options, "tmpfs", dir.toString()), 30);
    if (mounted.exitCode() != 0) {
      fail("cannot mount a tmpfs (this test runs as root): " + mounted.output());
    }
    return dir;
  }

  /** {@code n} bytes from the generator seeded with {@code seed}: the same bytes every run. */
  static byte[] random(int n, long seed) {
    byte[] b = new byte[n];
    new Random(seed).nextBytes(b);
    return b;
  }

  /** Makes {@code file} {@code bytes} long, sparse: a hole where nothing was written. */
  static void sparse(Path file, long bytes) throws IOException {
    try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
      f.setLength(bytes);
    }
  }

  static List<String> list(String... parts) {
    return new ArrayList<>(List.of(parts));
  }

  record Result(int exitCode, String output) {}
}
