package io.cbtfs.syncer.local;

import io.cbtfs.syncer.CommitPoint;
import io.cbtfs.syncer.Delivery;
import io.cbtfs.syncer.DeltaHeader;
import java.io.Closeable;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The one way a delta lands in a local target (a replica, first full sync or not, an archive; a
 * receiver's too): staged into a {@link StagingFile}, verified and durable at {@link #commit}, then
 * handed to the target's {@link Install} step, whose end is the commit point; after it, applied and
 * settled, where nothing fails the sync. {@link #close} without commit discards the staging file.
 * The sync lock the target took for it is released when the delivery ends.
 */
final class LocalDelivery implements Delivery {
  private static final Logger log = LoggerFactory.getLogger(LocalDelivery.class);

  /** A target's step at the commit point. */
  @FunctionalInterface
  interface Install {
    /**
     * Makes the verified, durable file the target's new generation, durably: the commit point. A
     * failure before it is undone here, so the target serves what it served before, and thrown.
     *
     * @return what is left to do after the commit point
     */
    Committed install(Path verified, DeltaHeader header) throws IOException;
  }

  /** What is left of a committed delta: apply, then settle. Neither fails the sync. */
  interface Committed {
    /** Nothing left: the committed file is the generation (an archive's). */
    Committed NOTHING = new Committed() {};

    /** Applies the committed delta to what the target serves (a replica's journal). */
    default void apply() throws IOException {}

    /**
     * After {@link #apply} failed with {@code e} (an Error too, wrapped): lets go of what the
     * commit holds; what is left is finished at the target's next use. Returns the warning the sync
     * reports.
     */
    default String leave(Exception e) {
      return e.toString();
    }

    /**
     * Makes the applied generation durable and lets go of what the commit holds, now or in the
     * background; a failure is logged, not thrown (the target's next use finishes it).
     */
    default void settle() {}
  }

  private final StagingFile staging;
  private final DeltaHeader announced;
  private final Install install;
  private final Closeable syncLock;
  private boolean done;
  private String warning = "";

  /** Stages {@code announced} into {@code staging}; {@code syncLock} closes when it ends. */
  LocalDelivery(StagingFile staging, DeltaHeader announced, Install install, Closeable syncLock) {
    this.staging = staging;
    this.announced = announced;
    this.install = install;
    this.syncLock = syncLock;
  }

  @Override
  public OutputStream stream() {
    return staging.stream();
  }

  @Override
  public long commit() throws IOException {
    if (done) {
      throw new IllegalStateException("delivery already ended");
    }
    DeltaHeader verified = staging.finish(announced); // staged, verified, durable
    Committed committed = install.install(staging.path(), verified); // the commit point
    done = true; // committed: what is left may not fail the delivery
    try {
      committed.apply();
      committed.settle();
    } catch (IOException | RuntimeException e) {
      warning = committed.leave(e);
    } catch (Error e) { // out of memory: the journal stays for the next use, the locks must go
      committed.leave(new IOException(e.toString(), e));
      throw e;
    } finally {
      CommitPoint.closeAfter(syncLock, log);
    }
    return verified.generation();
  }

  @Override
  public String warning() {
    return warning;
  }

  @Override
  public void close() throws IOException {
    if (done) {
      return;
    }
    done = true;
    try (Closeable lock = syncLock) {
      staging.discard();
    }
  }
}
