package io.cbtfs.cli;

import io.cbtfs.syncer.SyncProgress;
import java.io.PrintStream;
import java.util.List;

/**
 * A one-line progress display for a terminal: percent, bytes, blocks, rate, ETA. Redraws at most
 * ten times a second; prints nothing when standard error is not a terminal.
 */
final class ProgressBar implements SyncProgress {
  private final PrintStream err;
  private final boolean enabled;
  private final long started = System.nanoTime();
  private long lastDraw;
  private boolean drawn;
  private String label = "";
  private List<String> members = List.of();

  /** The images of a group sync: the line names the one shipping. */
  void nameMembers(List<String> names) {
    members = List.copyOf(names);
  }

  @Override
  public void member(int index) {
    label = index < members.size() ? members.get(index) + ": " : "";
    lastDraw = 0; // the next update draws, whatever the rate
  }

  ProgressBar(PrintStream err, boolean enabled) {
    this.err = err;
    this.enabled = enabled;
  }

  static ProgressBar forTerminal(boolean quiet) {
    return new ProgressBar(System.err, !quiet && System.console() != null);
  }

  @Override
  public void update(long doneBytes, long totalBytes, long doneBlocks, long totalBlocks) {
    if (!enabled) {
      return;
    }
    long now = System.nanoTime();
    if (now - lastDraw < 100_000_000L && doneBytes < totalBytes) {
      return;
    }
    lastDraw = now;
    double secs = Math.max(1e-9, (now - started) / 1e9);
    double rate = doneBytes / secs;
    String eta =
        rate > 0 ? String.format(Json.NUMBERS, "%.0fs", (totalBytes - doneBytes) / rate) : "?";
    String blocks =
        totalBlocks == 0
            ? ""
            : String.format(Json.NUMBERS, "  %d/%d blocks", doneBlocks, totalBlocks);
    err.printf(
        Json.NUMBERS,
        "\r%s%3.0f%%  %s / %s%s  %s/s  ETA %s   ",
        label,
        totalBytes == 0 ? 100.0 : 100.0 * doneBytes / totalBytes,
        Json.humanBytes(doneBytes),
        Json.humanBytes(totalBytes),
        blocks,
        Json.humanBytes((long) rate),
        eta);
    err.flush();
    drawn = true;
  }

  /** Ends the progress line. */
  void finish() {
    if (drawn) {
      err.print("\r\033[K");
      err.flush();
    }
  }
}
