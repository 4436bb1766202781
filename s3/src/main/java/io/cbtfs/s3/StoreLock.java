package io.cbtfs.s3;

import io.cbtfs.tracker.CbtfsException;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import software.amazon.awssdk.services.s3.model.S3Object;

/**
 * Keeps {@code gc}'s sweep and syncs apart in a store, with nothing but objects: write your lock,
 * then list all locks. Of two holders that both do that, the one that lists later sees the other
 * (S3 lists are strongly consistent), so a sweep and a sync never both go ahead. Syncs do not
 * exclude each other. A sync yields to a sweep; a sweep waits for running syncs, keeping its lock
 * meanwhile so that no new sync starts.
 *
 * <p>A lock is a lease: its holder rewrites it every {@link #RENEW}; others treat a lock not
 * rewritten for {@link #STALE} (server time) as a dead process's. The holder trusts its own lock
 * only while it has renewed it without a gap of {@code STALE / 2} (its monotonic clock): after a
 * longer stall (a frozen VM, a lost network) it is {@link #expired} for good, since another process
 * may have gone ahead meanwhile.
 */
final class StoreLock implements AutoCloseable {
  enum Kind {
    SYNC,
    GC
  }

  static final Duration STALE = Duration.ofMinutes(10);
  static final Duration RENEW = Duration.ofMinutes(1);

  /** {@link #STALE}, shortened only by tests that play a stalled process. */
  static volatile Duration stale = STALE;

  private final S3Store store;
  private final Kind kind;
  private final String key;
  private final String owner;
  private final ScheduledExecutorService renewer =
      Executors.newSingleThreadScheduledExecutor(
          r -> {
            Thread t = new Thread(r, "cbtfs-s3-lock");
            t.setDaemon(true);
            return t;
          });
  private volatile long renewedNanos;
  private volatile boolean expired;

  private StoreLock(S3Store store, Kind kind, String what) {
    this.store = store;
    this.kind = kind;
    this.key = store.location().locksPrefix() + name(kind) + "-" + UUID.randomUUID();
    this.owner = ManagementFactory.getRuntimeMXBean().getName() + " " + what;
  }

  private static String name(Kind k) {
    return k.name().toLowerCase(Locale.ROOT);
  }

  /**
   * Takes a lock of {@code kind}, waiting up to {@code wait} while a conflicting one is held (a
   * sync waits for a sweep; a sweep for syncs and other sweeps). The lock renews itself until
   * {@link #close}.
   *
   * @throws CbtfsException naming the holder if the wait ran out
   */
  static StoreLock acquire(S3Store store, Kind kind, String what, Duration wait)
      throws IOException {
    StoreLock lock = new StoreLock(store, kind, what);
    long deadline = System.nanoTime() + wait.toNanos();
    long pause = 200;
    try {
      while (true) {
        String holder = lock.tryOnce();
        if (holder == null) {
          lock.renewer.scheduleWithFixedDelay(
              lock::renewQuietly, RENEW.toMillis(), RENEW.toMillis(), TimeUnit.MILLISECONDS);
          return lock;
        }
        if (System.nanoTime() > deadline) {
          throw new CbtfsException(
              "the store "
                  + store.location().asStore().describe()
                  + " is busy: "
                  + holder
                  + " (waited "
                  + wait.toSeconds()
                  + " s)");
        }
        Thread.sleep(pause); // polling a remote store: there is nothing to wait on
        pause = Math.min(pause * 2, 1_000);
      }
    } catch (InterruptedException e) {
      lock.abandon();
      Thread.currentThread().interrupt();
      throw new IOException("interrupted while waiting for the store's lock");
    } catch (IOException | RuntimeException e) {
      lock.abandon();
      throw e;
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
      Kind other = kindOf(o.key());
      if (o.key().equals(key) || other == null) {
        continue;
      }
      if (o.lastModified().isBefore(now.minus(stale))) {
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
        byte[] who = store.get(o.key(), 4096);
        if (kind == Kind.SYNC || other == Kind.GC) {
          store.delete(key);
        }
        // A sweep waiting for syncs keeps its lock: new syncs see it and wait, so the running
        // ones drain and the sweep is not starved by a busy fleet.
        return (other == Kind.GC ? "a gc" : "a sync")
            + " ("
            + (who == null ? "gone" : printable(new String(who, StandardCharsets.UTF_8)))
            + ") holds "
            + store.where(o.key())
            + " since "
            + o.lastModified();
      }
    }
    return null;
  }

  private static Kind kindOf(String key) {
    String n = key.substring(key.lastIndexOf('/') + 1);
    for (Kind k : Kind.values()) {
      if (n.startsWith(name(k) + "-")) {
        return k;
      }
    }
    return null;
  }

  private void write() throws IOException {
    long before = System.nanoTime();
    byte[] body = owner.getBytes(StandardCharsets.UTF_8);
    store.put(key, body, body.length, Map.of());
    if (renewedNanos != 0 && before - renewedNanos > stale.toNanos() / 2) {
      expired = true; // a gap others may have read as death: never trust this lock again
    }
    renewedNanos = before;
  }

  /** Rewrites the lock now (the timer does it every minute). */
  void renew() throws IOException {
    write();
  }

  private void renewQuietly() {
    try {
      write();
    } catch (IOException | RuntimeException e) {
      // the next attempt, or the holder's expired() check, deals with it
    }
  }

  /**
   * Whether this lock can no longer be trusted: it went without renewal long enough that another
   * process may have taken it for a dead one's.
   */
  boolean expired() {
    return expired || System.nanoTime() - renewedNanos > stale.toNanos() / 2;
  }

  /**
   * How long a write that relies on this lock may still take (the time limit to give it).
   *
   * @throws CbtfsException if the lease has run out, or too little is left to write anything
   */
  Duration left() {
    long left = stale.toNanos() / 2 - (System.nanoTime() - renewedNanos);
    if (expired || left < MIN_WRITE.toNanos()) {
      throw new CbtfsException(
          "the lock "
              + store.where(key)
              + " ran out (this process stalled for minutes): stopped before writing more");
    }
    return Duration.ofNanos(left);
  }

  /** Less than this left of a lease is not worth a request. */
  private static final Duration MIN_WRITE = Duration.ofMillis(500);

  private void abandon() {
    renewer.shutdownNow();
    try {
      store.delete(key);
    } catch (IOException | RuntimeException e) {
      // it goes stale on its own
    }
  }

  /** Stops renewing (waiting for a renewal in flight, so it cannot revive the lock), deletes it. */
  @Override
  public void close() throws IOException {
    if (closed) {
      return;
    }
    closed = true;
    renewer.shutdownNow();
    try {
      renewer.awaitTermination(30, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    store.delete(key);
  }

  private boolean closed;

  /** Another host's text in one printable line. */
  private static String printable(String s) {
    String t = s.replaceAll("[^\\x20-\\x7e]", "?");
    return t.length() > 200 ? t.substring(0, 200) + "..." : t;
  }
}
