package io.cbtfs.cli;

import io.cbtfs.fs.ImageFiles;
import io.cbtfs.nbd.NbdAddress;
import io.cbtfs.syncer.FleeceLimit;
import io.cbtfs.syncer.FleeceStore;
import io.cbtfs.syncer.PointInTime;
import io.cbtfs.syncer.Printable;
import io.cbtfs.syncer.PullBackup;
import io.cbtfs.tracker.CbtfsException;
import io.cbtfs.tracker.DirtySet;
import io.cbtfs.tracker.TrackedImage;
import io.cbtfs.tracker.TrackerStore;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The pull backups open in a mount, each a read-only NBD export {@code IMAGE@NAME} of the image as
 * it was at its drain (docs/OPERATIONS.md, "Pull backups over NBD"). {@code begin} takes the drain
 * and publishes the export; {@code end} withdraws it, then commits the cursor or not. The mount
 * closes this when it stops: every backup still open ends without a commit.
 *
 * <p>Thread safety: begin, end and close are serialised; {@link #open} and {@link #exportNames}
 * (the NBD sessions) read a concurrent snapshot.
 */
final class PullBackups implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(PullBackups.class);

  /** A backup cursor's prefix in the image's history: no target URI starts so. */
  static final String CURSOR_PREFIX = "nbd:";

  private static final Pattern NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,63}");

  private final TrackerStore store;
  private final ImageFiles files;
  private final Path stateDir;
  private final Map<String, Open> open = new java.util.concurrent.ConcurrentHashMap<>();
  private volatile List<NbdAddress> addresses = List.of();
  private boolean closed;

  /**
   * @param stateDir where the fleeces go (scratch files, unlinked at once)
   */
  PullBackups(TrackerStore store, ImageFiles files, Path stateDir) {
    this.store = store;
    this.files = files;
    this.stateDir = stateDir;
  }

  /** The NBD addresses the exports are served on (none: begin is refused). */
  void servedOn(List<NbdAddress> served) {
    this.addresses = List.copyOf(served);
  }

  /**
   * Checks a backup's name: what its export and cursor are named by.
   *
   * @throws CbtfsException for anything but 1 to 64 letters, digits, '.', '_' and '-' (a letter or
   *     digit first)
   */
  static String requireName(String name) {
    if (!NAME.matcher(name).matches()) {
      throw new CbtfsException(
          "bad backup name '"
              + Printable.escaped(name)
              + "': 1 to 64 letters, digits, '.', '_' or '-', a letter or digit first");
    }
    return name;
  }

  /** The export of the backup {@code name} of {@code image}. */
  static String exportName(String image, String name) {
    return image + "@" + name;
  }

  /** The export names of the backups open now. */
  List<String> exportNames() {
    return List.copyOf(open.keySet());
  }

  /**
   * An open backup: its image, its name (the consumer's, without {@link #CURSOR_PREFIX}) and its
   * view.
   */
  record Open(String image, String name, PullBackup backup) {}

  /** The open backup exported as {@code exportName}, if any. */
  Optional<Open> open(String exportName) {
    return Optional.ofNullable(open.get(exportName));
  }

  /**
   * Takes a point-in-time drain of {@code image} for the cursor {@code nbd:NAME} and publishes its
   * export.
   *
   * @throws CbtfsException if the mount has no NBD address, a backup of that name is open, or a
   *     sync or another backup of the image runs
   */
  synchronized BackupReport begin(String image, String name, FleeceLimit limit) throws IOException {
    requireName(name);
    if (closed) {
      throw new CbtfsException("the mount is stopping");
    }
    if (addresses.isEmpty()) {
      throw new CbtfsException(
          "this mount has no NBD export: mount with --nbd unix:PATH (or a port) to pull backups");
    }
    files.existingImage(image);
    String export = exportName(image, name);
    if (open.containsKey(export)) {
      throw new CbtfsException(
          "a backup "
              + Printable.escaped(export)
              + " is open already: end it first ('cbtfs backup end')");
    }
    TrackedImage tracking = store.image(image, () -> files.fingerprint(image));
    PullBackup backup =
        PullBackup.begin(
            tracking,
            files.backingFile(image),
            CURSOR_PREFIX + name,
            new PointInTime(FleeceStore.scratchIn(stateDir), limit));
    open.put(export, new Open(image, name, backup));
    log.info(
        "pull backup {} open: generation {}, {} blocks lacking",
        export,
        backup.generation(),
        backup.lacking().blockCount());
    return report(export, backup, BackupReport.OPEN);
  }

  /**
   * Withdraws the export of a backup (sessions reading it get ESHUTDOWN), then commits its cursor
   * to the drain's generation, or with {@code abort} leaves it where it was.
   *
   * @throws CbtfsException if no such backup is open
   * @throws IOException if the view broke (the fleece filled or failed): nothing is committed
   */
  synchronized BackupReport end(String image, String name, boolean abort) throws IOException {
    String export = exportName(image, name);
    Open ending = open.remove(export);
    if (ending == null) {
      throw new CbtfsException(
          "no backup "
              + Printable.escaped(export)
              + " is open"
              + (open.isEmpty()
                  ? ""
                  : "; open: "
                      + String.join(
                          ", ", open.keySet().stream().map(Printable::escaped).toList())));
    }
    PullBackup backup = ending.backup();
    try (backup) {
      if (abort) {
        backup.close();
        log.info("pull backup {} aborted: its cursor stays", export);
        return report(export, backup, BackupReport.ABORTED);
      }
      try {
        backup.commit();
      } catch (io.cbtfs.tracker.SnapshotBrokenException e) {
        throw new CbtfsException(
            "the backup "
                + Printable.escaped(export)
                + " broke, nothing committed: "
                + e.reason() // not the sync's advice (--no-snapshot): no sync ran
                + " (the next backup for this cursor lists these blocks again)",
            e);
      }
      log.info("pull backup {} committed: {} at {}", export, backup.cursor(), backup.generation());
      return report(export, backup, BackupReport.COMMITTED);
    }
  }

  private BackupReport report(String export, PullBackup backup, String state) {
    List<String> uris = new ArrayList<>();
    if (state.equals(BackupReport.OPEN)) {
      for (NbdAddress a : addresses) {
        uris.add(a.uri(uriPath(export)));
      }
    }
    DirtySet lacking = backup.lacking();
    return new BackupReport(
        export,
        uris,
        backup.cursor(),
        backup.generation(),
        backup.base(),
        backup.size(),
        lacking.geometry().blockSize(),
        lacking.blockCount(),
        lacking.byteCount(backup.size()),
        backup.why(),
        state);
  }

  /** An export name as a URI's path: bytes outside RFC 3986's unreserved set (and '@') escaped. */
  static String uriPath(String export) {
    StringBuilder out = new StringBuilder();
    for (byte b : export.getBytes(StandardCharsets.UTF_8)) {
      int c = b & 0xff;
      if (c < 0x80 && (Character.isLetterOrDigit(c) || "-._~@".indexOf(c) >= 0)) {
        out.append((char) c);
      } else {
        out.append(String.format(java.util.Locale.ROOT, "%%%02X", c));
      }
    }
    return out.toString();
  }

  /** Ends every backup still open, none committed (the mount stops). Idempotent. */
  @Override
  public synchronized void close() {
    closed = true;
    for (Map.Entry<String, Open> e : new LinkedHashMap<>(open).entrySet()) {
      open.remove(e.getKey());
      try {
        e.getValue().backup().close();
        log.info("pull backup {} ended with the mount: its cursor stays", e.getKey());
      } catch (IOException | RuntimeException failed) {
        log.warn("ending pull backup {}: {}", e.getKey(), failed.toString());
      }
    }
  }
}
