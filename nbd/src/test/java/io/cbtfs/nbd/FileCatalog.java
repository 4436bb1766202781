package io.cbtfs.nbd;

import io.cbtfs.tracker.BlockGeometry;
import io.cbtfs.tracker.Fingerprint;
import io.cbtfs.tracker.TrackedImage;
import io.cbtfs.tracker.TrackerStore;
import io.cbtfs.tracker.TrackingOptions;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A catalog over the files of a folder with real tracking (a {@link TrackerStore}): what the
 * mount's adapter does, with a FileChannel instead of the mount's file system. Every file is data
 * (no hole lookup here).
 */
final class FileCatalog implements ExportCatalog, AutoCloseable {
  final Path dir;
  final TrackerStore store;
  final AtomicInteger open = new AtomicInteger();

  FileCatalog(Path dir) throws IOException {
    this.dir = dir;
    this.store =
        TrackerStore.open(
            dir.resolve(".state"), TrackingOptions.defaults(BlockGeometry.of(64 << 10)));
  }

  @Override
  public List<String> names() throws IOException {
    try (var files = Files.list(dir)) {
      return files
          .filter(Files::isRegularFile)
          .map(p -> p.getFileName().toString())
          .sorted()
          .toList();
    }
  }

  @Override
  public Optional<ExportedImage> open(String name, boolean writable) throws IOException {
    if (!names().contains(name)) {
      return Optional.empty();
    }
    Path file = dir.resolve(name);
    TrackedImage tracking = store.image(name, Fingerprint.sizeOnly(Files.size(file)));
    FileChannel channel =
        writable
            ? FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE)
            : FileChannel.open(file, StandardOpenOption.READ);
    open.incrementAndGet();
    return Optional.of(
        new ExportedImage() {
          @Override
          public long size() throws IOException {
            return channel.size();
          }

          @Override
          public int read(ByteBuffer dst, long byteOffset) throws IOException {
            int total = 0;
            while (dst.hasRemaining()) {
              int n = channel.read(dst, byteOffset + total);
              if (n < 0) {
                break;
              }
              total += n;
            }
            return total;
          }

          @Override
          public void write(ByteBuffer src, long byteOffset) throws IOException {
            long length = src.remaining();
            tracking.beforeWrite(byteOffset, length);
            try {
              long at = byteOffset;
              while (src.hasRemaining()) {
                at += channel.write(src, at);
              }
            } finally {
              tracking.afterWrite(byteOffset, length);
            }
          }

          @Override
          public void flush() throws IOException {
            channel.force(false);
          }

          @Override
          public void trim(long byteOffset, long byteLength) throws IOException {
            write(ByteBuffer.allocateDirect((int) byteLength), byteOffset);
          }

          @Override
          public long nextData(long byteOffset) throws IOException {
            return byteOffset < channel.size() ? byteOffset : -1;
          }

          @Override
          public long nextHole(long byteOffset) throws IOException {
            return channel.size();
          }

          @Override
          public TrackedImage tracking() {
            return tracking;
          }

          @Override
          public boolean writable() {
            return writable;
          }

          @Override
          public Optional<PointInTimeBitmap> pointInTime() {
            return Optional.empty();
          }

          @Override
          public void close() throws IOException {
            open.decrementAndGet();
            channel.close();
          }
        });
  }

  @Override
  public void close() throws IOException {
    store.close();
  }
}
