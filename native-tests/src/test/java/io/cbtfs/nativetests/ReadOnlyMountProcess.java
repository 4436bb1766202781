package io.cbtfs.nativetests;

import static org.assertj.core.api.Assertions.assertThat;

import io.cbtfs.fs.mount.ProcMounts;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * {@code cbtfs mount --read-only SOURCE MNT} in the foreground, in its own JVM as an operator runs
 * it, on the transport this run of the suite tests. {@link #close} unmounts ({@code cbtfs unmount},
 * then lazily if busy) and waits for the process to end.
 */
final class ReadOnlyMountProcess implements AutoCloseable {
  final Path mnt;
  private final Process process;
  private final List<String> output = java.util.Collections.synchronizedList(new ArrayList<>());
  private final CountDownLatch serving = new CountDownLatch(1);
  private final Thread reader;

  private ReadOnlyMountProcess(Path mnt, Process process) {
    this.mnt = mnt;
    this.process = process;
    this.reader =
        new Thread(
            () -> {
              try (BufferedReader r =
                  new BufferedReader(
                      new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
                String line;
                while ((line = r.readLine()) != null) {
                  synchronized (output) {
                    output.add(line);
                    output.notifyAll(); // awaitOutput
                  }
                  if (line.startsWith("cbtfs: serving")) {
                    serving.countDown();
                  }
                }
              } catch (IOException e) {
                output.add("(output lost: " + e + ")");
              } finally {
                serving.countDown();
              }
            });
    reader.start();
  }

  /** Mounts {@code source} on {@code mnt} (made if missing) and returns once it serves. */
  static ReadOnlyMountProcess start(
      Path mnt, Map<String, String> env, String source, String... options)
      throws IOException, InterruptedException {
    return start(List.of(), mnt, env, source, options);
  }

  /** {@link #start(Path, Map, String, String...)} in a JVM started with {@code jvmFlags}. */
  static ReadOnlyMountProcess start(
      List<String> jvmFlags, Path mnt, Map<String, String> env, String source, String... options)
      throws IOException, InterruptedException {
    Fuse.require();
    Files.createDirectories(mnt);
    List<String> args =
        Tools.list("mount", "--read-only", "--transport", MountedFolder.transport().label());
    args.addAll(List.of(options));
    args.add(source);
    args.add(mnt.toString());
    List<String> command = new ArrayList<>(List.of(Cbtfs.java()));
    command.addAll(jvmFlags);
    command.addAll(List.of("-jar", Cbtfs.jar().toString()));
    command.addAll(args);
    ProcessBuilder b = new ProcessBuilder(command);
    b.redirectErrorStream(true).environment().putAll(env);
    ReadOnlyMountProcess m = new ReadOnlyMountProcess(mnt, b.start());
    m.process.getOutputStream().close();
    assertThat(m.serving.await(120, TimeUnit.SECONDS)).as("mount came up").isTrue();
    assertThat(ProcMounts.isMounted(mnt)).as("mounted:\n%s", m.output()).isTrue();
    return m;
  }

  long pid() {
    return process.pid();
  }

  /** Everything the process printed so far. */
  String output() {
    synchronized (output) {
      return String.join("\n", output);
    }
  }

  /** Waits (at most 120 s) until the process has printed {@code text}. */
  void awaitOutput(String text) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
    synchronized (output) {
      while (!output().contains(text)) {
        long left = deadline - System.nanoTime();
        assertThat(left).as("waiting for '%s' in:%n%s", text, output()).isPositive();
        TimeUnit.NANOSECONDS.timedWait(output, left);
      }
    }
  }

  /** Unmounts and waits for the process; returns everything it printed. */
  String stop() throws IOException, InterruptedException {
    if (ProcMounts.isMounted(mnt)) {
      Tools.Result r = Cbtfs.run("unmount", mnt.toString());
      if (r.exitCode() == 0) {
        assertThat(r.output()).isEqualTo("cbtfs: unmounted " + mnt.toRealPath() + "\n");
      } else {
        Tools.exec(List.of("umount", "-l", mnt.toString()), 60);
      }
    }
    if (!process.waitFor(60, TimeUnit.SECONDS)) {
      process.destroyForcibly();
    }
    reader.join(TimeUnit.SECONDS.toMillis(30));
    return output();
  }

  @Override
  public void close() throws IOException {
    try {
      stop();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
