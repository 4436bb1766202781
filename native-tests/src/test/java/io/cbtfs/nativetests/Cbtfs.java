package io.cbtfs.nativetests;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
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
}
