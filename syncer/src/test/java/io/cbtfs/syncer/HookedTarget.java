package io.cbtfs.syncer;

import io.cbtfs.tracker.BlockGeometry;
import java.io.FilterOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.channels.FileChannel;

/**
 * A target like {@code inner} whose delivery streams go through a hook: tests cut, stall or break a
 * delta in flight at an exact byte.
 */
public final class HookedTarget implements Target {
  /** Sees every write of a delta, before it goes on; may throw, block, or act on the world. */
  @FunctionalInterface
  public interface Hook {
    /**
     * @param written the bytes that went on before this write
     */
    void beforeWrite(long written, int length) throws IOException;
  }

  private final Target inner;
  private final Hook hook;

  public HookedTarget(Target inner, Hook hook) {
    this.inner = inner;
    this.hook = hook;
  }

  /** A target whose stream fails once {@code limit} bytes went on. */
  public static Target failingAfter(Target inner, long limit, String message) {
    return new HookedTarget(
        inner,
        (written, length) -> {
          if (written + length > limit) {
            throw new IOException(message + " after " + written + " bytes");
          }
        });
  }

  @Override
  public String describe() {
    return inner.describe();
  }

  @Override
  public TargetState state() throws IOException {
    return inner.state();
  }

  @Override
  public long granuleBytes() {
    return inner.granuleBytes();
  }

  @Override
  public Delivery begin(io.cbtfs.syncer.DeltaHeader header, boolean allow) throws IOException {
    Delivery d = inner.begin(header, allow);
    OutputStream hooked =
        new FilterOutputStream(d.stream()) {
          long written;

          @Override
          public void write(int b) throws IOException {
            write(new byte[] {(byte) b}, 0, 1);
          }

          @Override
          public void write(byte[] b, int off, int len) throws IOException {
            hook.beforeWrite(written, len);
            out.write(b, off, len);
            written += len;
          }
        };
    return new Delivery() {
      @Override
      public OutputStream stream() {
        return hooked;
      }

      @Override
      public long commit() throws IOException {
        hooked.flush();
        return d.commit();
      }

      @Override
      public void close() throws IOException {
        d.close();
      }
    };
  }

  @Override
  public void close() throws IOException {
    inner.close();
  }

  @Override
  public Comparison compare(FileChannel image, long size, BlockGeometry g, long limit)
      throws IOException {
    return inner.compare(image, size, g, limit);
  }
}
