package io.cbtfs.syncer.remote;

import io.cbtfs.syncer.DeltaHeader;
import io.cbtfs.syncer.DeltaPrefix;
import io.cbtfs.syncer.KeptAttempt;
import io.cbtfs.tracker.CbtfsException;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A receiver's kept attempt for one target (docs/FORMAT.md, "Resume"): while a resumable delta
 * streams in, its bytes also go to {@code .NAME.cbtfs-resume.part}; when the sender goes away that
 * file becomes {@code .NAME.cbtfs-resume}, the kept attempt, and a receiver killed meanwhile leaves
 * the part, which the next resumable BEGIN takes as the kept attempt (the newest attempt wins: it
 * is the one the sender recorded). Before a kept attempt is offered its records are verified again
 * ({@link DeltaPrefix}): it ends at its last complete record; a damaged, sealed or foreign one
 * (another lineage or base) is deleted with a log line, never served. A commit deletes both.
 *
 * <p>Keeping is a bonus, never a condition: every file operation here but reading a kept record
 * that was offered fails quietly (a log line, nothing kept), so a transfer succeeds or fails as it
 * would without it, and nothing here can fail a sync after its target committed.
 *
 * <p>One connection at a time uses a target's files (the receiver's claim on the name).
 */
final class KeptTransfer implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(KeptTransfer.class);

  private final Path kept;
  private final Path part;
  private final String peer;
  private FileChannel keptFile; // the kept attempt being reused, or null
  private DeltaPrefix.Prefix prefix;
  private OutputStream tee;

  /** The files of the target at {@code target} ({@code ROOT/NAME.img} or {@code .archive}). */
  KeptTransfer(Path target, String peer) {
    String name = target.getFileName().toString();
    this.kept = target.resolveSibling("." + name + ".cbtfs-resume");
    this.part = target.resolveSibling("." + name + ".cbtfs-resume.part");
    this.peer = peer;
  }

  /** The records of the kept attempt {@link #open} found, in order. */
  List<KeptAttempt.KeptRecord> records() {
    return prefix == null
        ? List.of()
        : prefix.records().stream().map(DeltaPrefix.Record::record).toList();
  }

  /**
   * Opens the kept attempt that a delta with {@code header} may reuse: same lineage, base, kind
   * (full or not) and block size, in clear (a part left by a killed receiver first becomes it).
   * Anything else kept is deleted.
   *
   * @return the generation of the kept attempt, or -1 when nothing usable is kept
   */
  long open(DeltaHeader header) {
    try {
      if (Files.exists(part)) {
        Files.move(part, kept, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
      }
      if (!Files.exists(kept)) {
        return -1;
      }
      DeltaPrefix.Prefix found;
      try {
        found = DeltaPrefix.scan(kept);
      } catch (CbtfsException e) {
        log.warn("{}: discarding the kept attempt {}: {}", peer, kept, e.getMessage());
        Files.deleteIfExists(kept);
        return -1;
      }
      DeltaHeader h = found.header();
      if (!h.lineage().equals(header.lineage())
          || h.baseGeneration() != header.baseGeneration()
          || h.full() != header.full()
          || h.blockSize() != header.blockSize()) {
        log.info("{}: discarding the kept attempt {} ({}): another base", peer, kept, h.describe());
        Files.deleteIfExists(kept);
        return -1;
      }
      keptFile = FileChannel.open(kept, StandardOpenOption.READ);
      prefix = found;
      log.info(
          "{}: offering {} kept records of attempt {} to resume",
          peer,
          found.records().size(),
          h.generation());
      return h.generation();
    } catch (IOException e) {
      log.warn("{}: not resuming from {}: {}", peer, kept, e.toString());
      closeQuietly();
      prefix = null;
      return -1;
    }
  }

  /** Kept record {@code index}, header and payload, as the delta held it. */
  byte[] read(int index) throws IOException {
    List<DeltaPrefix.Record> records = prefix == null ? List.of() : prefix.records();
    if (index < 0 || index >= records.size()) {
      throw new CbtfsException("protocol error: no kept record " + index);
    }
    DeltaPrefix.Record r = records.get(index);
    ByteBuffer b = ByteBuffer.allocate(r.fileBytes());
    while (b.hasRemaining()) {
      if (keptFile.read(b, r.fileOffset() + b.position()) < 0) {
        throw new IOException("the kept attempt " + kept + " was shortened");
      }
    }
    return b.array();
  }

  /** Starts keeping the bytes of the delta now streaming in (the part file, for this user only). */
  void startKeeping() {
    try {
      Files.deleteIfExists(part);
      Files.createFile(
          part, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
      tee =
          new BufferedOutputStream(Files.newOutputStream(part, StandardOpenOption.WRITE), 1 << 20);
    } catch (IOException | UnsupportedOperationException e) {
      stopKeeping(e);
    }
  }

  /**
   * Keeps {@code bytes} of the delta, in order. A keeping that fails (a full disk) ends keeping,
   * never the transfer: the part is deleted, its room goes back to the target.
   */
  void keep(byte[] bytes) {
    if (tee == null) {
      return;
    }
    try {
      tee.write(bytes);
    } catch (IOException e) {
      stopKeeping(e);
    }
  }

  private void stopKeeping(Exception why) {
    log.warn("{}: not keeping this transfer for a resume: {}", peer, why.toString());
    try {
      if (tee != null) {
        tee.close();
      }
    } catch (IOException ignored) {
      // it failed already
    }
    tee = null;
    delete(part);
  }

  /**
   * The sender went away: what arrived becomes the kept attempt (a part that could not be kept
   * leaves none: an older attempt is not the one the sender recorded).
   */
  void senderGone() {
    boolean keeping = tee != null;
    if (keeping) {
      try {
        tee.close(); // its last buffer: a record cut in two is dropped when it is next opened
      } catch (IOException e) {
        keeping = false;
        log.warn("{}: not keeping this transfer for a resume: {}", peer, e.toString());
      }
      tee = null;
    }
    closeQuietly();
    if (keeping) {
      try {
        Files.move(part, kept, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        return;
      } catch (IOException e) {
        log.warn("{}: not keeping this transfer for a resume: {}", peer, e.toString());
      }
    }
    delete(part);
    delete(kept);
  }

  /** The target holds a new generation, or the transfer failed here: nothing is kept. */
  void discard() {
    closeQuietly();
    delete(part);
    delete(kept);
  }

  private void delete(Path file) {
    try {
      Files.deleteIfExists(file);
    } catch (IOException e) {
      log.warn("{}: {}", peer, e.toString()); // found and deleted at its next use
    }
  }

  private void closeQuietly() {
    try {
      if (tee != null) {
        tee.close();
      }
    } catch (IOException e) {
      // discarded anyway
    }
    tee = null;
    try {
      if (keptFile != null) {
        keptFile.close();
      }
    } catch (IOException e) {
      // only read
    }
    keptFile = null;
  }

  @Override
  public void close() {
    closeQuietly();
  }
}
