package io.cbtfs.nbd;

import io.cbtfs.tracker.DirtySet;
import io.cbtfs.tracker.TrackedImage;
import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.function.LongPredicate;

/**
 * The meta contexts an export offers, and what each reports:
 *
 * <ul>
 *   <li>{@code base:allocation}: the backing file's holes ({@link AllocationExtents});
 *   <li>{@code qemu:dirty-bitmap:cbtfs}: the live dirty set, the blocks written since the last sync
 *       to any target: what the next sync of every target sends at least;
 *   <li>{@code qemu:dirty-bitmap:TARGET}, one per target cursor (its name as {@code cbtfs status}
 *       shows it): what that target lacks, the blocks its next sync sends; every block if its next
 *       sync compares every block, or its cursor is gone.
 * </ul>
 *
 * Each is read at each request: a pull sees the tracking as it is then, and clears nothing. A
 * point-in-time export ({@link ExportedImage#pointInTime}, a pull backup) offers {@code
 * base:allocation} of its frozen view, and its fixed bitmap as {@code qemu:dirty-bitmap:cbtfs} and
 * {@code qemu:dirty-bitmap:NAME} (the name its consumer gave).
 */
final class MetaContexts {
  static final String BASE_ALLOCATION = "base:allocation";
  static final String DIRTY_BITMAP = "qemu:dirty-bitmap:";
  static final String LIVE = DIRTY_BITMAP + "cbtfs";

  private MetaContexts() {}

  /** The contexts {@code image} offers now. */
  static List<String> available(ExportedImage image) throws IOException {
    List<String> names = new ArrayList<>();
    names.add(BASE_ALLOCATION);
    names.add(LIVE);
    Optional<PointInTimeBitmap> frozen = image.pointInTime();
    if (frozen.isPresent()) {
      addBitmap(names, frozen.get().name());
      return names;
    }
    for (TrackedImage.TargetLag target : image.tracking().targets()) {
      addBitmap(names, target.cursor().target());
    }
    return names;
  }

  private static void addBitmap(List<String> names, String bitmap) {
    String name = DIRTY_BITMAP + bitmap;
    if (!names.contains(name)
        && name.getBytes(java.nio.charset.StandardCharsets.UTF_8).length <= Nbd.MAX_STRING_BYTES) {
      names.add(name);
    }
  }

  /**
   * The contexts of {@code available} that {@code queries} name. A list ({@code wildcards}) takes
   * no queries as all, {@code base:} as every base context and {@code qemu:} or {@code
   * qemu:dirty-bitmap:} as every dirty bitmap; a selection takes exact names only. Queries of other
   * namespaces are ignored, as the protocol asks.
   */
  static List<String> matching(List<String> available, List<String> queries, boolean wildcards) {
    if (queries.isEmpty()) {
      return wildcards ? available : List.of();
    }
    Set<String> out = new LinkedHashSet<>();
    for (String query : queries) {
      for (String name : available) {
        if (name.equals(query) || wildcards && isWildcardFor(query, name)) {
          out.add(name);
        }
      }
    }
    return List.copyOf(out);
  }

  private static boolean isWildcardFor(String query, String name) {
    return (query.equals("base:") || query.equals("qemu:") || query.equals(DIRTY_BITMAP))
        && name.startsWith(query);
  }

  /** What context {@code name} reports for {@code image}. */
  static ExtentSource source(String name, ExportedImage image) throws IOException {
    TrackedImage tracking = image.tracking();
    if (name.equals(BASE_ALLOCATION)) {
      return new AllocationExtents(image);
    }
    if (image.pointInTime().isPresent()) { // every bitmap it offers is its one fixed set
      return (byteOffset, byteLength, maxExtents) -> {
        DirtySet dirty = image.pointInTime().orElseThrow().dirty(); // fails once withdrawn
        return new DirtyExtents(dirty.geometry(), dirty::contains)
            .extents(byteOffset, byteLength, maxExtents);
      };
    }
    if (name.equals(LIVE)) {
      return new DirtyExtents(tracking.tracker().geometry(), tracking.tracker()::isDirty);
    }
    String target = name.substring(DIRTY_BITMAP.length());
    return (byteOffset, byteLength, maxExtents) -> {
      Optional<DirtySet> lacks = tracking.lacks(target); // a copy, taken at each request
      LongPredicate dirty = lacks.<LongPredicate>map(set -> set::contains).orElse(block -> true);
      return new DirtyExtents(tracking.tracker().geometry(), dirty)
          .extents(byteOffset, byteLength, maxExtents);
    };
  }
}
