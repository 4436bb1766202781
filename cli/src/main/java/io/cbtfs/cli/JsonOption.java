package io.cbtfs.cli;

import picocli.CommandLine.Option;

/** The {@code --json} option of the commands whose output scripts read. */
final class JsonOption {
  @Option(names = "--json", description = "Print the result as one JSON object, for scripts.")
  boolean on;
}
