package io.cbtfs.cli;

import java.nio.file.Path;

/**
 * Configures slf4j-simple before the first logger exists: info to standard error by default, debug
 * with {@code -v}, or into a log file for a daemon.
 */
final class Logging {
  private static boolean verbose;

  private Logging() {}

  static void configure(boolean beVerbose, Path logFile) {
    configure(beVerbose, logFile, "info");
  }

  /** With {@code quietLevel} as the level when not verbose (the demo keeps its output clean). */
  static void configure(boolean beVerbose, Path logFile, String quietLevel) {
    verbose = beVerbose;
    System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", beVerbose ? "debug" : quietLevel);
    System.setProperty("org.slf4j.simpleLogger.showDateTime", "true");
    System.setProperty("org.slf4j.simpleLogger.dateTimeFormat", "yyyy-MM-dd'T'HH:mm:ss.SSSZ");
    System.setProperty("org.slf4j.simpleLogger.showShortLogName", "true");
    System.setProperty("org.slf4j.simpleLogger.levelInBrackets", "true");
    if (logFile != null) {
      System.setProperty("org.slf4j.simpleLogger.logFile", logFile.toString());
    }
  }

  static boolean verbose() {
    return verbose;
  }
}
