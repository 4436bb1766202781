package io.cbtfs.cli;

import io.cbtfs.fs.mount.MountOptions;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.lang.management.ManagementFactory;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Starts a mount in the background: the same JVM command in a new session (setsid), its standard
 * error appended to the log file (never truncated: the log may be that of a running mount this one
 * collides with). The child prints {@value #READY} on its standard output once the mount serves and
 * then closes it, so the parent waits on that pipe, not on a timer. The caller has checked the
 * mount ({@code Mount.validate}) and made the state directory. The child's JVM is held to the
 * mount's memory budget; JVM flags the parent was started with follow and win.
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

  int launch(List<String> cbtfsArgs, MemoryBudget budget, MountOptions options, Path logFile)
      throws IOException {
    long logStart =
        Files.exists(logFile) ? Files.size(logFile) : 0; // where the child's lines begin
    List<String> command = new ArrayList<>();
    if (Files.isExecutable(Path.of("/usr/bin/setsid"))) {
      command.add("/usr/bin/setsid");
    }
    command.add(ProcessHandle.current().info().command().orElse("java"));
    command.addAll(jvmArgs(budget, ManagementFactory.getRuntimeMXBean().getInputArguments()));
    command.add("-cp");
    command.add(System.getProperty("java.class.path"));
    command.add(CbtfsCommand.class.getName());
    command.addAll(cbtfsArgs);
    ProcessBuilder builder = new ProcessBuilder(command);
    budget.environment().forEach(builder.environment()::putIfAbsent);
    Process child =
        builder
            .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()))
            .redirectError(ProcessBuilder.Redirect.appendTo(logFile.toFile()))
            .start();
    String line;
    try (BufferedReader childOut =
        new BufferedReader(new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8))) {
      line = childOut.readLine();
    }
    if (line != null && (line.equals(READY) || line.startsWith(READY + " "))) {
      String transport = line.substring(READY.length()).strip(); // the child says which
      out.printf(
          "cbtfs: serving %s on %s (pid %d, log %s%s)%n",
          options.backingDir(),
          options.mountPoint(),
          child.pid(),
          logFile,
          transport.isEmpty() ? "" : ", FUSE transport: " + transport);
      out.flush();
      return CbtfsCommand.EXIT_OK;
    }
    try {
      child.waitFor(10, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    err.println("cbtfs mount: the mount did not start; it wrote to " + logFile + ":");
    List<String> log = childLines(logFile, logStart);
    for (String l : log.subList(Math.max(0, log.size() - LOG_TAIL_LINES), log.size())) {
      err.println("  " + l);
    }
    err.flush();
    return CbtfsCommand.EXIT_FAILURE;
  }

  /** The child's JVM flags: the budget's, then the parent's own (the later of two flags wins). */
  static List<String> jvmArgs(MemoryBudget budget, List<String> parentJvmArgs) {
    List<String> args =
        new ArrayList<>(budget.jvmFlags(MemoryBudget.selectsCollector(parentJvmArgs)));
    args.addAll(parentJvmArgs);
    return args;
  }

  /** The lines the child appended to {@code logFile} after {@code start}. */
  private static List<String> childLines(Path logFile, long start) throws IOException {
    try (FileChannel ch = FileChannel.open(logFile, StandardOpenOption.READ)) {
      ch.position(Math.min(start, ch.size()));
      return new BufferedReader(Channels.newReader(ch, StandardCharsets.UTF_8)).lines().toList();
    }
  }
}
