package io.cbtfs.cli;

import io.cbtfs.tracker.DirtySet;
import io.cbtfs.tracker.TrackedImage;
import io.prometheus.metrics.model.registry.MultiCollector;
import io.prometheus.metrics.model.snapshots.MetricSnapshots;
import java.util.List;
import java.util.function.Supplier;

/**
 * The metrics of each image a mount serves (label {@code image}), read from its tracking at scrape
 * time: nothing is counted on the write path beyond {@link TrackedImage#countWrite}. Images are
 * those loaded since the mount started (opened through it, synced or asked for by status).
 */
final class ImageMetrics implements MultiCollector {
  static final String DIRTY_BLOCKS = "cbtfs_image_dirty_blocks";
  static final String DIRTY_BYTES = "cbtfs_image_dirty_bytes";
  static final String SIZE_BYTES = "cbtfs_image_size_bytes";
  static final String GENERATION = "cbtfs_image_generation";
  static final String WRITE_REQUESTS = "cbtfs_image_write_requests";
  static final String WRITTEN_BYTES = "cbtfs_image_written_bytes";
  static final String LOG_FSYNCS = "cbtfs_image_activity_log_fsyncs";

  private final Supplier<List<TrackedImage>> images;

  ImageMetrics(Supplier<List<TrackedImage>> images) {
    this.images = images;
  }

  @Override
  public MetricSnapshots collect() {
    MetricFamilies f =
        new MetricFamilies()
            .gauge(
                DIRTY_BLOCKS,
                "Blocks the target furthest behind lacks (written since its last sync)")
            .gauge(DIRTY_BYTES, "Bytes of those blocks, within the image")
            .gauge(SIZE_BYTES, "Size of the image as the write path last saw it")
            .gauge(GENERATION, "Highest generation a sync of the image has taken")
            .counter(WRITE_REQUESTS, "Write requests through the mount since the image was loaded")
            .counter(WRITTEN_BYTES, "Bytes written through the mount since the image was loaded")
            .counter(
                LOG_FSYNCS,
                "Activity-log writes made durable (each an fdatasync): writes into cold extents");
    for (TrackedImage image : images.get()) {
      String name = image.name();
      long size = image.knownSize();
      DirtySet dirty = image.dirtyBlocks().within(size);
      f.add(DIRTY_BLOCKS, dirty.blockCount(), "image", name);
      f.add(DIRTY_BYTES, dirty.byteCount(size), "image", name);
      f.add(SIZE_BYTES, size, "image", name);
      f.add(GENERATION, image.issuedGeneration(), "image", name);
      f.add(WRITE_REQUESTS, image.writeRequests(), "image", name);
      f.add(WRITTEN_BYTES, image.writtenBytes(), "image", name);
      f.add(LOG_FSYNCS, image.activityLogFsyncs(), "image", name);
    }
    return f.build();
  }
}
