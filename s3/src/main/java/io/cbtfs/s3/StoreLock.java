package io.cbtfs.s3;

import io.cbtfs.tracker.CbtfsException;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import software.amazon.awssdk.services.s3.model.S3Object;

/**
 * Keeps {@code gc}'s sweep and syncs apart in a store, with nothing but objects: write your lock,
 * then list all locks. Of two holders that both do that, the one that lists later sees the other
 * (S3 lists are strongly consistent), so a sweep and a sync never both go ahead. Syncs do not
 * exclude each other. A sync yields to a sweep; a sweep waits for running syncs, keeping its lock
 * meanwhile so that no new sync starts. A lock not rewritten for {@link #STALE} belongs to a dead
 * process; ages are compared in the server's clock (object times), never the local one.
 */
final class StoreLock implements AutoCloseable {
  enum Kind {
    SYNC,
    GC
  }

  static final Duration STALE = Duration.ofMinutes(10);
  private static final Duration REFRESH = Duration.ofMinutes(1);

  private final S3Store store;
  private final Kind kind;
  private final String key;
  private final String owner;
  private volatile long refreshedNanos;
  private volatile boolean lost;

  private StoreLock(S3Store store, Kind kind, String what) {
    this.store = store;
    this.kind = kind;
    this.key =
        store.location().locksPrefix()
            + kind.name().toLowerCase(java.util.Locale.ROOT)
            + "-"
            + UUID.randomUUID();
    this.owner = ManagementFactory.getRuntimeMXBean().getName() + " " + what;
  }

  /**
   * Takes a lock of {@code kind}, waiting up to {@code wait} while a conflicting one is held (a
   * sync waits for a sweep; a sweep for syncs and other sweeps).
   *
   * @throws CbtfsException naming the holder if the wait ran out
   */
  static StoreLock acquire(S3Store store, Kind kind, String what, Duration wait)
      throws IOException {
    StoreLock lock = new StoreLock(store, kind, what);
    long deadline = System.nanoTime() + wait.toNanos();
    long pause = 200;
    while (true) {
      String holder = lock.tryOnce();
      if (holder == null) {
        return lock;
      }
      if (System.nanoTime() > deadline) {
        store.delete(lock.key);
        throw new CbtfsException(
            "the store "
                + store.location().asStore().describe()
                + " is busy: "
                + holder
                + " (waited "
                + wait.toSeconds()
                + " s)");
      }
      try {
        Thread.sleep(pause); // polling a remote store: there is nothing to wait on
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IOException("interrupted while waiting for " + holder);
      }
      pause = Math.min(pause * 2, 1_000);
    }
  }

  /** Writes the lock and lists; null if it is held, else who holds a conflicting one. */
  private String tryOnce() throws IOException {
    write();
    List<S3Object> locks = store.list(store.location().locksPrefix());
    Instant now =
        locks.stream()
            .filter(o -> o.key().equals(key))
            .map(S3Object::lastModified)
            .findFirst()
            .orElseThrow(() -> new IOException("lock " + store.where(key) + " vanished"));
    for (S3Object o : locks) {
      if (o.key().equals(key)) {
        continue;
      }
      boolean stale = o.lastModified().isBefore(now.minus(STALE));
      Kind other = kindOf(o.key());
      if (other == null) {
        continue;
      }
      if (stale) {
        if (kind == Kind.GC) {
          store.delete(o.key()); // a dead process's lock; the sweep runs alone from here
        }
        continue;
      }
      boolean yields =
          other == Kind.GC
              ? kind == Kind.SYNC || o.key().compareTo(key) < 0 // one sweep at a time
              : kind == Kind.GC;
      if (yields) {
        String who = new String(orEmpty(store.get(o.key())), StandardCharsets.UTF_8);
        if (kind == Kind.SYNC || other == Kind.GC) {
          store.delete(key);
        }
        // A sweep waiting for syncs keeps its lock: new syncs see it and wait, so the running
        // ones drain and the sweep is not starved by a busy fleet.
        return (other == Kind.GC ? "a gc" : "a sync")
            + " ("
            + who
            + ") holds "
            + store.where(o.key())
            + " since "
            + o.lastModified();
      }
    }
    refreshedNanos = System.nanoTime();
    return null;
  }

  private static byte[] orEmpty(byte[] b) {
    return b == null ? new byte[0] : b;
  }

  private static Kind kindOf(String key) {
    String name = key.substring(key.lastIndexOf('/') + 1);
    for (Kind k : Kind.values()) {
      if (name.startsWith(k.name().toLowerCase(java.util.Locale.ROOT) + "-")) {
        return k;
      }
    }
    return null;
  }

  private void write() throws IOException {
    byte[] body = owner.getBytes(StandardCharsets.UTF_8);
    store.put(key, body, body.length, Map.of());
  }

  /**
   * Rewrites the lock if it is older than a minute, so that it does not go stale while a long sync
   * runs. A lock that a sweep removed as stale is not written again: it is {@link #lost}.
   */
  void refreshIfDue() throws IOException {
    if (lost || System.nanoTime() - refreshedNanos < REFRESH.toNanos()) {
      return;
    }
    synchronized (this) {
      if (System.nanoTime() - refreshedNanos < REFRESH.toNanos()) {
        return;
      }
      if (store.head(key) == null) {
        lost = true;
        return;
      }
      write();
      refreshedNanos = System.nanoTime();
    }
  }

  /**
   * Whether a sweep took this lock for a dead process's (then anything it relied on may be gone).
   */
  boolean lost() throws IOException {
    if (!lost && store.head(key) == null) {
      lost = true;
    }
    return lost;
  }

  @Override
  public void close() throws IOException {
    store.delete(key);
  }
}
