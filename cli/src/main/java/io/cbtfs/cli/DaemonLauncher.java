package io.cbtfs.cli;

import io.cbtfs.fs.mount.MountOptions;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Starts a mount in the background: the same JVM command in a new session (setsid), logging to a
 * file. The child prints {@value #READY} on its standard output once the mount serves and then
 * closes it, so the parent waits on that pipe, not on a timer.
 */
final class DaemonLauncher {
  static final String READY = "cbtfs-mount-ready";
  private static final int LOG_TAIL_LINES = 15;

  private final PrintWriter out;
  private final PrintWriter err;

  DaemonLauncher(PrintWriter out, PrintWriter err) {
    this.out = out;
    this.err = err;
  }

  int launch(List<String> cbtfsArgs, MountOptions options, Path logFile) throws IOException {
    Files.createDirectories(options.stateDir());
    Files.setPosixFilePermissions(options.stateDir(), PosixFilePermissions.fromString("rwx------"));
    List<String> command = new ArrayList<>();
    if (Files.isExecutable(Path.of("/usr/bin/setsid"))) {
      command.add("/usr/bin/setsid");
    }
    command.add(ProcessHandle.current().info().command().orElse("java"));
    command.addAll(ManagementFactory.getRuntimeMXBean().getInputArguments());
    command.add("-cp");
    command.add(System.getProperty("java.class.path"));
    command.add(CbtfsCommand.class.getName());
    command.addAll(cbtfsArgs);
    Process child =
        new ProcessBuilder(command)
            .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()))
            .redirectError(ProcessBuilder.Redirect.appendTo(logFile.toFile()))
            .start();
    String line;
    try (BufferedReader childOut =
        new BufferedReader(new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8))) {
      line = childOut.readLine();
    }
    if (READY.equals(line)) {
      out.printf(
          "cbtfs: serving %s on %s (pid %d, log %s)%n",
          options.backingDir(), options.mountPoint(), child.pid(), logFile);
      out.flush();
      return CbtfsCommand.EXIT_OK;
    }
    try {
      child.waitFor(10, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    err.println("cbtfs mount: the mount did not start; end of " + logFile + ":");
    List<String> log = Files.readAllLines(logFile, StandardCharsets.UTF_8);
    for (String l : log.subList(Math.max(0, log.size() - LOG_TAIL_LINES), log.size())) {
      err.println("  " + l);
    }
    err.flush();
    return CbtfsCommand.EXIT_FAILURE;
  }
}
