package io.cbtfs.fs.fuse;

import static org.assertj.core.api.Assertions.assertThat;

import io.cbtfs.fs.FuseOperation;
import io.cbtfs.fs.ImageFileSystem;
import io.cbtfs.fs.ImageFiles;
import io.cbtfs.fs.Posix;
import io.cbtfs.tracker.BlockGeometry;
import io.cbtfs.tracker.TrackerStore;
import io.cbtfs.tracker.TrackingOptions;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import jnr.ffi.Memory;
import jnr.ffi.Pointer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import ru.serce.jnrfuse.struct.FuseFileInfo;

/** The callbacks without a kernel: what each returns for success and for failure. */
class CbtFuseFsTest {
  private static final int O_RDWR = 2;

  @TempDir Path dir;
  private TrackerStore store;
  private CbtFuseFs fuse;
  private final jnr.ffi.Runtime runtime = Posix.get().runtime();

  @BeforeEach
  void mount() throws IOException {
    Path state = dir.resolve(".cbtfs");
    store = TrackerStore.open(state, TrackingOptions.defaults(BlockGeometry.defaults()));
    fuse = new CbtFuseFs(new ImageFileSystem(new ImageFiles(dir, state), store, Posix.get()));
  }

  @AfterEach
  void unmount() throws IOException {
    store.close();
  }

  private FuseFileInfo fileInfo(int flags) {
    FuseFileInfo fi = FuseFileInfo.of(Memory.allocateDirect(runtime, 64));
    fi.flags.set(flags);
    return fi;
  }

  @Test
  void writeAndReadReturnTheByteCount() throws IOException {
    FuseFileInfo other = fileInfo(O_RDWR);
    assertThat(fuse.create("/other.img", 0600, other)).isZero(); // so that a.img's handle is not 0
    FuseFileInfo fi = fileInfo(O_RDWR);
    assertThat(fuse.create("/a.img", 0600, fi)).isZero();
    assertThat(fi.fh.get()).isEqualTo(1);
    Pointer buf = Memory.allocateDirect(runtime, 100);
    buf.put(0, "x".repeat(100).getBytes(), 0, 100);
    assertThat(fuse.write("/a.img", buf, 100, 50, fi)).isEqualTo(100);
    assertThat(fuse.read("/a.img", buf, 1000, 0, fi)).isEqualTo(150);
    assertThat(fuse.release("/a.img", fi)).isZero();
    assertThat(Files.size(dir.resolve("a.img"))).isEqualTo(150);
    assertThat(Files.size(dir.resolve("other.img"))).isZero();
    assertThat(fuse.release("/other.img", other)).isZero();
  }

  @Test
  void failuresAreNegatedErrnos() {
    FuseFileInfo fi = fileInfo(O_RDWR);
    fi.fh.set(7);
    Pointer buf = Memory.allocateDirect(runtime, 10);
    assertThat(fuse.write("/a.img", buf, 10, 0, fi)).isEqualTo(-Posix.EBADF);
    assertThat(fuse.read("/a.img", buf, 10, 0, fi)).isEqualTo(-Posix.EBADF);
    assertThat(fuse.open("/missing.img", fi)).isEqualTo(-Posix.ENOENT);
    assertThat(fuse.truncate("/sub/a.img", 0)).isEqualTo(-Posix.ENOENT);
    assertThat(fuse.release("/a.img", fi)).isEqualTo(-Posix.EBADF);
  }

  @Test
  void everyCallbackIsObservedAsTheKernelsOperation() throws IOException {
    java.util.List<FuseOperation> seen = new java.util.ArrayList<>();
    CbtFuseFs observed =
        new CbtFuseFs(
            new ImageFileSystem(new ImageFiles(dir, dir.resolve(".cbtfs")), store, Posix.get()),
            (op, nanos) -> seen.add(op));
    FuseFileInfo fi = fileInfo(O_RDWR);
    assertThat(observed.create("/a.img", 0600, fi)).isZero();
    Pointer buf = Memory.allocateDirect(runtime, 10);
    assertThat(observed.write("/a.img", buf, 10, 0, fi)).isEqualTo(10);
    assertThat(observed.chmod("/a.img", 0600)).isZero();
    assertThat(observed.open("/missing.img", fi)).as("failures too").isEqualTo(-Posix.ENOENT);
    assertThat(observed.release("/a.img", fi)).isZero();
    assertThat(seen)
        .containsExactly(
            FuseOperation.CREATE,
            FuseOperation.WRITE,
            FuseOperation.SETATTR,
            FuseOperation.OPEN,
            FuseOperation.RELEASE);
  }
}
