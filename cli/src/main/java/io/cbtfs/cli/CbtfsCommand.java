package io.cbtfs.cli;

import io.cbtfs.syncer.Printable;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Properties;
import java.util.function.Supplier;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.IVersionProvider;

/** The top-level {@code cbtfs} command. */
@Command(
    name = "cbtfs",
    mixinStandardHelpOptions = true,
    versionProvider = CbtfsCommand.Version.class,
    header = "Changed-block tracking for VM disk images through a FUSE proxy.",
    description = {
      "Mount a folder of images with 'cbtfs mount'; every write through the mount marks the blocks it touched. 'cbtfs status' shows what changed since the last sync; 'cbtfs sync' ships only those blocks to a replica, an archive, a 'cbtfs receive' on another host or an S3 store, each target sent what changed since its own last sync; 'cbtfs forget' drops a target; 'cbtfs restore' rebuilds any generation."
    },
    exitCodeListHeading = "%nExit codes:%n",
    exitCodeList = {
      "0:success",
      "1:runtime failure (the message says what failed)",
      "2:usage error (bad option or argument)",
      "3:unmount only: unmounted, but the tracking could not be saved clean (the next mount"
          + " recovers it, as after a crash)"
    })
public final class CbtfsCommand implements Runnable {
  public static final int EXIT_OK = 0;
  public static final int EXIT_FAILURE = 1;
  public static final int EXIT_USAGE = 2;

  /** {@code unmount}: the mount is gone, but its tracking was not saved clean (see the message). */
  public static final int EXIT_UNMOUNTED_UNSAVED = 3;

  /** Ctrl-C: what a shell reports for SIGINT (128 + 2). */
  public static final int EXIT_INTERRUPTED = 130;

  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  /**
   * The subcommands, in the order help lists them. Picocli reflects over every option of every
   * subcommand it is given, at every start: {@code main} gives it only the one the arguments name.
   */
  private static final Map<String, Supplier<Object>> SUBCOMMANDS = new LinkedHashMap<>();

  static {
    SUBCOMMANDS.put("mount", MountCommand::new);
    SUBCOMMANDS.put("unmount", UnmountCommand::new);
    SUBCOMMANDS.put("status", StatusCommand::new);
    SUBCOMMANDS.put("sync", SyncCommand::new);
    SUBCOMMANDS.put("forget", ForgetCommand::new);
    SUBCOMMANDS.put("backup", BackupCommand::new);
    SUBCOMMANDS.put("verify", VerifyCommand::new);
    SUBCOMMANDS.put("restore", RestoreCommand::new);
    SUBCOMMANDS.put("adopt", AdoptCommand::new);
    SUBCOMMANDS.put("ls", LsCommand::new);
    SUBCOMMANDS.put("gc", GcCommand::new);
    SUBCOMMANDS.put("key", KeyCommand::new);
    SUBCOMMANDS.put("receive", ReceiveCommand::new);
    SUBCOMMANDS.put("demo", DemoCommand::new);
    SUBCOMMANDS.put("help", CommandLine.HelpCommand::new);
  }

  public static void main(String[] args) {
    Logging.configure(false, null, "warn"); // mount and receive raise it to info for their logs
    PrintWriter out = new PrintWriter(System.out, true);
    PrintWriter err = new PrintWriter(System.err, true);
    Integer quick = QuickSync.run(args, out, err);
    System.exit(quick != null ? quick : newCommandLine(args).execute(args));
  }

  /** The command line with every subcommand, for help and the tests. */
  public static CommandLine newCommandLine() {
    return newCommandLine(new String[0]);
  }

  /**
   * The command line for {@code args}: with only the subcommand its first word names, or with all
   * of them when it names none (top-level help, a typo that deserves suggestions, {@code help X}).
   */
  static CommandLine newCommandLine(String[] args) {
    CommandLine cli = new CommandLine(new CbtfsCommand());
    String first = args.length > 0 ? (args[0].equals("umount") ? "unmount" : args[0]) : "";
    if (SUBCOMMANDS.containsKey(first) && !first.equals("help")) {
      cli.addSubcommand(SUBCOMMANDS.get(first).get());
    } else {
      SUBCOMMANDS.values().forEach(s -> cli.addSubcommand(s.get()));
    }
    cli.setExecutionExceptionHandler(new OneLineErrors());
    cli.setParameterExceptionHandler(new OneLineUsageErrors());
    return cli;
  }

  @Override
  public void run() {
    spec.commandLine().usage(spec.commandLine().getOut());
  }

  /** Prints a failure as one line (the stack trace only with -v) and returns exit code 1. */
  static final class OneLineErrors implements CommandLine.IExecutionExceptionHandler {
    @Override
    public int handleExecutionException(
        Exception e, CommandLine cli, CommandLine.ParseResult parseResult) {
      // "key create", not "create": a nested command is named by its whole path
      String name = cli.getCommandSpec().qualifiedName(" ").replaceFirst("^cbtfs ", "");
      return report(e, name, cli.getErr());
    }

    /** Prints {@code e} as {@code command}'s one-line error; returns the exit code. */
    static int report(Exception e, String command, PrintWriter err) {
      if (e instanceof CancelOnExit.Reported) {
        return EXIT_INTERRUPTED; // the process is exiting; the cancel hook said what happened
      }
      if (e instanceof IllegalArgumentException) {
        err.println("cbtfs " + command + ": " + e.getMessage());
        err.flush();
        return EXIT_USAGE;
      }
      err.println("cbtfs " + command + ": " + Errors.describe(e));
      if (Logging.verbose()) {
        e.printStackTrace(err);
      }
      err.flush();
      return EXIT_FAILURE;
    }
  }

  /**
   * Prints a usage error (a bad option value, a missing argument, a typo) as one line, with where
   * the usage is, and returns exit code 2: picocli's own handler printed the whole usage after it,
   * which buried the line that says what is wrong.
   */
  static final class OneLineUsageErrors implements CommandLine.IParameterExceptionHandler {
    @Override
    public int handleParseException(CommandLine.ParameterException e, String[] args) {
      CommandLine cli = e.getCommandLine();
      String name = cli.getCommandSpec().qualifiedName(" ");
      StringBuilder line = new StringBuilder(name).append(": ").append(e.getMessage());
      if (e instanceof CommandLine.UnmatchedArgumentException u && !u.getSuggestions().isEmpty()) {
        line.append(" (did you mean ").append(String.join(" or ", u.getSuggestions())).append("?)");
      }
      line.append("; see '").append(name).append(" --help'");
      cli.getErr().println(Printable.escaped(line.toString()));
      cli.getErr().flush();
      return EXIT_USAGE;
    }
  }

  /** Reads the version Maven wrote into the jar. */
  static final class Version implements IVersionProvider {
    @Override
    public String[] getVersion() throws IOException {
      Properties p = new Properties();
      try (InputStream in = CbtfsCommand.class.getResourceAsStream("/cbtfs-version.properties")) {
        if (in != null) {
          p.load(in);
        }
      }
      return new String[] {
        "cbtfs " + p.getProperty("version", "unknown"),
        "Java ${java.version} (${java.vendor}), ${os.name} ${os.arch}"
      };
    }
  }
}
