package io.cbtfs.syncer.remote;

import io.cbtfs.syncer.Comparison;
import io.cbtfs.syncer.Delivery;
import io.cbtfs.syncer.DeltaHeader;
import io.cbtfs.syncer.PieceCache;
import io.cbtfs.syncer.StoredImage;
import io.cbtfs.syncer.TargetState;
import io.cbtfs.syncer.crypto.EncryptionKey;
import io.cbtfs.syncer.local.ArchiveReader;
import io.cbtfs.syncer.local.Restorable;
import io.cbtfs.tracker.BlockGeometry;
import io.cbtfs.tracker.CbtfsException;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.util.List;

/**
 * A receiver's archive ({@code cbtfs://HOST:PORT/NAME?archive}), read: its generations listed,
 * restored or read in place, over read sessions ({@link RemoteArchiveFiles}). Every byte is checked
 * here as for a local archive, by the same {@link ArchiveReader}: the receiver only serves files.
 * Read-only: a sync goes through {@link RemoteTarget}. Thread-safe.
 */
public final class RemoteArchive implements Restorable {
  /** A read waits at most this long for the receiver: a FUSE read should not hang for minutes. */
  static final int READ_TIMEOUT_MILLIS = 30_000;

  private final RemoteArchiveFiles files;
  private final ArchiveReader reader;
  private final String describe;
  private final String name;
  private final EncryptionKey key;

  private RemoteArchive(RemoteTarget target) {
    this.describe = target.describe();
    this.name = target.peer().name();
    this.key = target.recordKey();
    this.files =
        new RemoteArchiveFiles(
            target.peer(), Math.min(READ_TIMEOUT_MILLIS, target.readTimeoutMillis()));
    this.reader = new ArchiveReader(files, describe, key, true); // the list is a snapshot
  }

  /**
   * The archive {@code uri} names, with the same options as a sync to it ({@code pin}, {@code
   * token-file}, {@code encrypt-key}, {@code insecure}). Nothing is sent before the first use.
   *
   * @throws IllegalArgumentException for a malformed URI, a missing pin or token, or a URI without
   *     {@code archive} (a receiver serves its archives for reading, not its replicas)
   */
  public static RemoteArchive open(String uri) throws IOException {
    RemoteTarget target = RemoteTarget.parse(uri);
    if (!target.archive()) {
      throw new IllegalArgumentException(
          "a receiver serves its archives for reading: "
              + target.describe()
              + "?archive (a replica is an image already: copy it on the receiver)");
    }
    return new RemoteArchive(target);
  }

  /** Whether {@code uri} is a {@code cbtfs://} URI. */
  public static boolean isRemote(String uri) {
    return uri.startsWith(RemoteScheme.PREFIX);
  }

  /** The archive's name on the receiver ({@code NAME} of {@code ROOT/NAME.archive}). */
  public String name() {
    return name;
  }

  @Override
  public String describe() {
    return describe;
  }

  @Override
  public EncryptionKey recordKey() {
    return key;
  }

  /** What the archive's {@code archive.meta} records, read from the receiver. */
  @Override
  public TargetState state() throws IOException {
    return reader.recorded();
  }

  @Override
  public List<Generation> generations() throws IOException {
    return reader.generations();
  }

  @Override
  public DeltaHeader restore(long generation, Path out, RestoreProgress progress)
      throws IOException {
    return reader.restore(generation, out, progress);
  }

  @Override
  public StoredImage open(long generation, PieceCache cache) throws IOException {
    return reader.open(generation, cache);
  }

  @Override
  public void requireKeyFor(long generation) throws IOException {
    reader.requireKeyFor(generation);
  }

  /** Refused: this is the archive opened for reading; a sync opens {@link RemoteTarget}. */
  @Override
  public Delivery begin(DeltaHeader header, boolean allowNewLineage) {
    throw new CbtfsException(describe + " is opened for reading only");
  }

  /** Not supported, as for {@link RemoteTarget}: verify on the receiver. */
  @Override
  public Comparison compare(
      long generation, FileChannel image, long imageSize, BlockGeometry geometry, long limit) {
    throw new UnsupportedOperationException(
        "comparing with " + describe + " is not supported: run cbtfs verify on the receiver");
  }

  @Override
  public void close() {
    files.close();
  }
}
