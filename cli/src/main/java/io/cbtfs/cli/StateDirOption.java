package io.cbtfs.cli;

import java.nio.file.Path;
import picocli.CommandLine.Option;

/** The {@code --state-dir} option of the commands that find an image's tracking. */
final class StateDirOption {
  @Option(
      names = "--state-dir",
      paramLabel = "DIR",
      description = "State directory, if the mount used a non-default --state-dir.")
  Path stateDir;
}
