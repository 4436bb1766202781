package io.cbtfs.s3;

import java.io.IOException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.TreeMap;
import software.amazon.awssdk.services.s3.model.S3Object;

/**
 * {@code cbtfs gc}: keeps the last N generations of every image and removes the chunks no kept
 * manifest names.
 *
 * <p>The rule that makes it safe beside syncs on other hosts (docs/FORMAT.md): the sweep runs under
 * a gc lock that no sync holds at the same time ({@link StoreLock}). A sync's lock covers it from
 * before its first dedup decision until its manifest is written, so every chunk a sync relies on is
 * either named by a manifest the sweep reads, or belongs to a sync the sweep waits for. On top of
 * that, a chunk younger than the grace period is never removed (it may belong to a sync whose lock
 * a sweep took for a dead one's, and clocks of hosts differ).
 */
public final class S3Gc {
  /**
   * What a run did.
   *
   * @param keptGenerations the manifests left
   */
  public record Report(
      int removedGenerations,
      int keptGenerations,
      long referencedChunks,
      long removedChunks,
      long removedBytes,
      long youngUnreferenced) {}

  private final S3Location store;

  public S3Gc(String storeUri) {
    this.store = S3Location.parse(storeUri, false);
  }

  public String describe() {
    return store.describe();
  }

  /**
   * @param keep generations to keep per image (at least 1: an image's newest is never removed)
   * @param grace chunks younger than this are kept whether named or not
   * @param dryRun count, remove nothing
   * @param wait how long to wait for running syncs to finish before giving up
   */
  public Report run(int keep, Duration grace, boolean dryRun, Duration wait) throws IOException {
    if (keep < 1) {
      throw new IllegalArgumentException("--keep must be at least 1");
    }
    try (S3Store s = new S3Store(store)) {
      List<String> expired = new ArrayList<>();
      for (String image : s.children(store.imagesPrefix())) {
        TreeMap<Long, S3Object> gens = s.manifests(image);
        while (gens.size() > keep) {
          expired.add(gens.pollFirstEntry().getValue().key());
        }
      }
      Set<String> stillListed = dryRun ? new HashSet<>(expired) : Set.of(); // kept in a dry run
      if (!dryRun) { // a manifest names everything it needs: the rest stay restorable
        s.deleteAll(expired);
      }
      try (StoreLock lock = StoreLock.acquire(s, StoreLock.Kind.GC, null, wait)) {
        Set<String> referenced = new HashSet<>();
        int kept = 0;
        Instant now = null;
        for (S3Object o : s.list(store.locksPrefix())) {
          now = now == null || o.lastModified().isAfter(now) ? o.lastModified() : now;
        }
        for (S3Object o : s.list(store.imagesPrefix())) {
          if (store.manifestImage(o.key()) == null || stillListed.contains(o.key())) {
            continue;
          }
          byte[] b = s.get(o.key(), Manifest.MAX_BYTES);
          if (b == null) {
            continue;
          }
          // a sealed manifest lists its chunks in clear: a sweep needs no key
          referenced.addAll(ManifestObject.chunkNames(b, s.where(o.key())));
          kept++;
        }
        Instant cutoff = (now == null ? Instant.now() : now).minus(grace);
        List<String> doomed = new ArrayList<>();
        long bytes = 0;
        long young = 0;
        for (S3Object o : s.list(store.chunksPrefix())) {
          String hex = o.key().substring(o.key().lastIndexOf('/') + 1);
          if (!store.isChunkKey(o.key()) || referenced.contains(hex)) {
            continue;
          }
          if (o.lastModified().isAfter(cutoff)) {
            young++;
            continue;
          }
          doomed.add(o.key());
          bytes += o.size();
        }
        if (!dryRun) {
          // every request bounded by what is left of the lease: a stalled sweep stops, it never
          // deletes after a sync may have taken it for dead
          lock.renew();
          s.deleteAll(doomed, lock::left);
        }
        return new Report(expired.size(), kept, referenced.size(), doomed.size(), bytes, young);
      }
    }
  }
}
