package io.cbtfs.s3;

import io.cbtfs.syncer.Printable;
import io.cbtfs.syncer.Threads;
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
 * exclude each other unless they are for one image: then a sync writes its lock as wanted, lists,
 * marks it held and lists again, backing off if another is held, so that of two only one can go on.
 * A sync yields to a sweep; a sweep waits for running syncs, keeping its lock meanwhile so that no
 * new sync starts.
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
      Executors.newSingleThreadScheduledExecutor(Threads.daemon("cbtfs-s3-lock"));
  private volatile long renewedNanos;
  private volatile boolean expired;

  /** A sync lock's body starts with its phase: wanted, or held (see {@link #tryOnce}). */
  private static final String WANT = "want ";

  private static final String HELD = "held ";

  private volatile boolean held;

  /** The image a sync lock is for (null for a sweep): two syncs of one image exclude each other. */
  private final String image;

  private StoreLock(S3Store store, Kind kind, String image) {
    this.store = store;
    this.kind = kind;
    this.image = image;
    this.key =
        store.location().locksPrefix()
            + name(kind)
            + "-"
            + UUID.randomUUID()
            + (image == null ? "" : "-" + image);
    this.owner =
        JVM
            + " "
            + ManagementFactory.getRuntimeMXBean().getName()
            + (image == null ? " gc" : " sync " + image);
  }

  private static String name(Kind k) {
    return k.name().toLowerCase(Locale.ROOT);
  }

  /**
   * Takes a lock of {@code kind}, waiting up to {@code wait} while a conflicting one is held (a
   * sync waits for a sweep and for another sync of its image; a sweep for syncs and other sweeps).
   * The lock renews itself until {@link #close}.
   *
   * @param image the image a sync is for; null for a sweep
   * @throws CbtfsException naming the holder if the wait ran out
   */
  static StoreLock acquire(S3Store store, Kind kind, String image, Duration wait)
      throws IOException {
    StoreLock lock = new StoreLock(store, kind, image);
    LIVE.add(lock.key); // from its first write: never taken for a leftover of this process
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
        // polling a remote store: there is nothing to wait on; the jitter keeps two syncs of one
        // image from backing off in step forever
        Thread.sleep(pause / 2 + java.util.concurrent.ThreadLocalRandom.current().nextLong(pause));
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
    if (kind == Kind.SYNC) {
      // A waiting sync does not write its lock while a sweep's is there, so a queue of syncs
      // cannot starve a sweep. Judged by this host's clock with a margin of one more stale
      // period (the write-then-list below decides by the store's clock).
      for (S3Object o : store.list(store.location().locksPrefix())) {
        if (kindOf(o.key()) == Kind.GC
            && o.lastModified().isAfter(Instant.now().minus(stale.multipliedBy(2)))) {
          return "a gc holds " + store.where(o.key()) + " since " + o.lastModified();
        }
      }
    }
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
      // another sync of this image (so this is a sync too) that holds its lock: its body, read once
      byte[] holder = sameImage(o) ? heldBy(o) : null;
      boolean yields =
          switch (other) {
            case GC -> kind == Kind.SYNC || o.key().compareTo(key) < 0; // one sweep at a time
            case SYNC -> kind == Kind.GC || holder != null; // one sync per image
          };
      if (yields) {
        byte[] who = holder != null ? holder : store.get(o.key(), 4096);
        if (kind == Kind.SYNC || other == Kind.GC) {
          store.delete(key);
        }
        // A sweep waiting for syncs keeps its lock: new syncs see it and wait, so the running
        // ones drain and the sweep is not starved by a busy fleet.
        return (other == Kind.GC
                ? "a gc"
                : kind == Kind.SYNC ? "another sync of " + image : "a sync")
            + " ("
            + (who == null ? "gone" : Printable.line(new String(who, StandardCharsets.UTF_8), 200))
            + ") holds "
            + store.where(o.key())
            + " since "
            + o.lastModified();
      }
    }
    if (kind == Kind.SYNC) {
      // Mark it held, then look again: of two syncs of one image that both get here, the one
      // that lists second sees the other held and backs off (both may; they try again later).
      held = true;
      write();
      for (S3Object o : store.list(store.location().locksPrefix())) {
        if (!o.key().equals(key)
            && sameImage(o)
            && !o.lastModified().isBefore(now.minus(stale))
            && heldBy(o) != null) {
          held = false;
          store.delete(key);
          return "another sync of " + image + " holds " + store.where(o.key());
        }
      }
    }
    return null;
  }

  private boolean sameImage(S3Object o) {
    return image != null && kindOf(o.key()) == Kind.SYNC && image.equals(imageOf(o.key()));
  }

  /**
   * The body of {@code o} if another sync holds it, else null. A lock this process left behind (its
   * delete failed) does not count and is removed; any other waits to go stale, since nothing else
   * proves its owner gone (process ids and host names repeat across containers).
   */
  private byte[] heldBy(S3Object o) throws IOException {
    byte[] body = store.get(o.key(), 4096);
    if (body == null) {
      return null;
    }
    String text = new String(body, StandardCharsets.UTF_8);
    String[] words = text.split(" ", 3);
    if (words.length >= 2 && words[1].equals(JVM) && !LIVE.contains(o.key())) {
      store.delete(o.key());
      return null;
    }
    return text.startsWith(HELD) ? body : null;
  }

  /** This process, told apart from every other (a process id is not: containers reuse them). */
  private static final String JVM = UUID.randomUUID().toString();

  /** The keys of the locks this process holds now. */
  private static final java.util.Set<String> LIVE =
      java.util.concurrent.ConcurrentHashMap.newKeySet();

  /** The image of a sync lock's key ({@code sync-UUID-IMAGE}), or null. */
  private static String imageOf(String key) {
    String n = key.substring(key.lastIndexOf('/') + 1);
    int at = name(Kind.SYNC).length() + 1 + 36 + 1;
    return n.startsWith(name(Kind.SYNC) + "-") && n.length() > at ? n.substring(at) : null;
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
    byte[] body = ((held ? HELD : WANT) + owner).getBytes(StandardCharsets.UTF_8);
    store.put(key, body, body.length, Map.of(), RENEW); // never lands long after it was meant
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
      if (closed) { // closed while this renewal was on its way: do not leave it behind
        store.delete(key);
      }
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
    LIVE.remove(key);
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
    LIVE.remove(key);
    renewer.shutdownNow();
    try {
      renewer.awaitTermination(30, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    store.delete(key);
  }

  private volatile boolean closed;
}
