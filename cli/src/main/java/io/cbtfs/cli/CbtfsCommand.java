package io.cbtfs.cli;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.util.Properties;
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
      "Mount a folder of images with 'cbtfs mount'; every write through the mount marks the blocks it touched. 'cbtfs status' shows what changed since the last sync; 'cbtfs sync' ships only those blocks to a replica, an archive, a 'cbtfs receive' on another host or an S3 store; 'cbtfs restore' rebuilds any generation."
    },
    subcommands = {
      MountCommand.class,
      UnmountCommand.class,
      StatusCommand.class,
      SyncCommand.class,
      VerifyCommand.class,
      RestoreCommand.class,
      LsCommand.class,
      GcCommand.class,
      ReceiveCommand.class,
      DemoCommand.class,
      CommandLine.HelpCommand.class
    },
    exitCodeListHeading = "%nExit codes:%n",
    exitCodeList = {
      "0:success",
      "1:runtime failure (the message says what failed)",
      "2:usage error (bad option or argument)"
    })
public final class CbtfsCommand implements Runnable {
  public static final int EXIT_OK = 0;
  public static final int EXIT_FAILURE = 1;
  public static final int EXIT_USAGE = 2;

  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  public static void main(String[] args) {
    Logging.configure(false, null, "warn"); // mount and receive raise it to info for their logs
    System.exit(newCommandLine().execute(args));
  }

  /** The configured command line, as {@code main} and the tests use it. */
  public static CommandLine newCommandLine() {
    CommandLine cli = new CommandLine(new CbtfsCommand());
    cli.setExecutionExceptionHandler(new OneLineErrors());
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
      PrintWriter err = cli.getErr();
      if (e instanceof IllegalArgumentException) {
        err.println("cbtfs " + cli.getCommandName() + ": " + e.getMessage());
        err.flush();
        return EXIT_USAGE;
      }
      err.println("cbtfs " + cli.getCommandName() + ": " + Errors.describe(e));
      if (Logging.verbose()) {
        e.printStackTrace(err);
      }
      err.flush();
      return EXIT_FAILURE;
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
