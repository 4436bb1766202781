package io.cbtfs.cli;

import java.nio.file.Path;

/**
 * The control socket's line protocol (UTF-8, one request line, reply lines ending with {@code OK}
 * or {@code ERR message}). Documented in docs/ARCHITECTURE.md.
 *
 * <pre>
 * PING            -> OK
 * STATUS name     -> key=value lines, OK
 * SYNC name\ttarget\tfull -> PROGRESS doneBytes totalBytes doneBlocks totalBlocks lines,
 *                    then the report as key=value lines, OK
 * UNMOUNT         -> OK once unmounted and the tracking is saved; ERR if busy
 * </pre>
 */
final class ControlProtocol {
  static final String SOCKET_NAME = "control.sock";
  static final String OK = "OK";
  static final String ERR = "ERR ";

  /** Longest request line accepted: a name is one path component (255 bytes) plus the verb. */
  static final int MAX_LINE = 1024;

  private ControlProtocol() {}

  static Path socketPath(Path stateDir) {
    return stateDir.resolve(SOCKET_NAME);
  }
}
