package io.cbtfs.cli;

import picocli.CommandLine.Option;

/** The {@code -v} option of the commands that log: debug detail, and stack traces with errors. */
final class VerboseOption {
  @Option(
      names = {"-v", "--verbose"},
      description = "Log debug detail; print stack traces.")
  boolean on;
}
