package io.cbtfs.nativetests;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.junit.jupiter.api.Assertions;

/** Runs the built {@code cbtfs.jar} in its own JVM, as an operator would. */
final class Cbtfs {
  private Cbtfs() {}

  static Path jar() {
    Path jar = Path.of(System.getProperty("cbtfs.jar", "../cli/target/cbtfs.jar"));
    if (!Files.isRegularFile(jar)) {
      Assertions.fail("cbtfs.jar not built at " + jar.toAbsolutePath());
    }
    return jar;
  }

  /** The java of the JVM running the tests (the one the jar is run with). */
  static String java() {
    return Path.of(System.getProperty("java.home"), "bin", "java").toString();
  }

  static List<String> command(String... args) {
    List<String> cmd = new ArrayList<>(List.of(java(), "-jar", jar().toString()));
    cmd.addAll(List.of(args));
    return cmd;
  }

  static Tools.Result run(String... args) {
    return Tools.exec(command(args), 120);
  }

  /** Runs with {@code env} added to the environment (AWS settings, say). */
  static Tools.Result run(java.util.Map<String, String> env, String... args) {
    return Tools.exec(command(args), 120, env);
  }

  /**
   * Starts cbtfs with {@code args} in the background and returns once it has printed a line that
   * starts with {@code ready} (within 60 s); fails with what it printed if it ends first. Its
   * output is read to the end meanwhile, so that it never blocks on a full pipe.
   */
  static Process startAwaiting(String ready, String... args)
      throws IOException, InterruptedException, ExecutionException, TimeoutException {
    Process p = new ProcessBuilder(command(args)).redirectErrorStream(true).start();
    CompletableFuture<Void> up = new CompletableFuture<>();
    StringBuilder output = new StringBuilder();
    Thread reader =
        new Thread(
            () -> {
              try (BufferedReader in =
                  new BufferedReader(
                      new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
                String line;
                while ((line = in.readLine()) != null) {
                  synchronized (output) {
                    output.append(line).append('\n');
                  }
                  if (line.startsWith(ready)) {
                    up.complete(null);
                  }
                }
              } catch (IOException e) {
                // the process died; the future below reports it
              }
              synchronized (output) {
                up.completeExceptionally(
                    new AssertionError("cbtfs " + args[0] + " ended: " + output));
              }
            },
            "cbtfs-" + args[0] + "-output");
    reader.setDaemon(true);
    reader.start();
    up.get(60, TimeUnit.SECONDS);
    return p;
  }
}
