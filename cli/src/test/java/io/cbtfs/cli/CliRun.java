package io.cbtfs.cli;

import io.cbtfs.syncer.local.ReplicaTarget;
import java.io.PrintWriter;
import java.io.StringWriter;
import picocli.CommandLine;

/** Runs the real command line in-process and captures exit code and output. */
record CliRun(int exitCode, String out, String err) {
  static CliRun of(String... args) {
    CommandLine cli = CbtfsCommand.newCommandLine();
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    cli.setOut(new PrintWriter(out));
    cli.setErr(new PrintWriter(err));
    int code = cli.execute(args);
    ReplicaTarget.awaitSettles(); // as the cbtfs process does at exit: nothing writes after it
    return new CliRun(code, out.toString(), err.toString());
  }
}
