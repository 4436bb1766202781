package io.cbtfs.syncer;

import io.cbtfs.tracker.BlockGeometry;
import java.io.IOException;
import java.nio.channels.FileChannel;

/**
 * A target like {@code inner} that runs a hook when a sync begins its delivery: after the drain and
 * the plan, before the records are read (tests act on the image at that instant); or, made by
 * {@link #atCompare}, when a verified sync compares the image with it, before the comparison.
 */
final class BeginHookTarget implements Target {
  interface Hook {
    void run() throws IOException;
  }

  private final Target inner;
  private final Hook hook;
  private final Hook atCompare;

  BeginHookTarget(Target inner, Hook hook) {
    this(inner, hook, () -> {});
  }

  private BeginHookTarget(Target inner, Hook hook, Hook atCompare) {
    this.inner = inner;
    this.hook = hook;
    this.atCompare = atCompare;
  }

  /** A target like {@code inner} that runs {@code hook} before each comparison with it. */
  static BeginHookTarget atCompare(Target inner, Hook hook) {
    return new BeginHookTarget(inner, () -> {}, hook);
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
  public Delivery begin(DeltaHeader header, boolean allowNewLineage) throws IOException {
    hook.run();
    return inner.begin(header, allowNewLineage);
  }

  @Override
  public Comparison compare(FileChannel image, long size, BlockGeometry g, long limit)
      throws IOException {
    atCompare.run();
    return inner.compare(image, size, g, limit);
  }

  @Override
  public void close() throws IOException {
    inner.close();
  }
}
