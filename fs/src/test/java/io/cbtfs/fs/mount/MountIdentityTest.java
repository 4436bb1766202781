package io.cbtfs.fs.mount;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.cbtfs.fs.ErrnoException;
import io.cbtfs.tracker.CbtfsException;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class MountIdentityTest {
  private static final Path MNT = Path.of("/mnt/vms");
  private static final long OURS = 51;
  private static final long OTHERS = 52;

  /** A mount table in memory: which device each path shows, what the calls did. */
  private static final class FakeCalls implements MountIdentity.Calls {
    long deviceAtMountPoint = OURS;
    final Map<Integer, Long> openDevices = new HashMap<>();
    final List<String> synced = new ArrayList<>();
    final List<Integer> closed = new ArrayList<>();
    int nextFd = 10;

    @Override
    public long deviceAt(Path path) throws IOException {
      if (deviceAtMountPoint < 0) {
        throw new ErrnoException(2, "lstat " + path + ": No such file or directory");
      }
      return deviceAtMountPoint;
    }

    @Override
    public int openReadOnly(Path path) throws IOException {
      if (path.getFileName().toString().equals("missing.img")) {
        throw new ErrnoException(2, "open " + path + ": No such file or directory");
      }
      openDevices.put(nextFd, deviceAtMountPoint);
      return nextFd++;
    }

    @Override
    public long deviceOf(int fd) {
      return openDevices.get(fd);
    }

    @Override
    public void fdatasync(int fd, Path path) {
      synced.add(path.toString());
    }

    @Override
    public void close(int fd) {
      closed.add(fd);
    }
  }

  @Test
  void flushesAnImageOfThisMount() throws IOException {
    FakeCalls calls = new FakeCalls();
    MountIdentity identity = MountIdentity.record(MNT, calls);

    identity.flush("vm.img");

    assertThat(calls.synced).containsExactly("/mnt/vms/vm.img");
    assertThat(calls.closed).containsExactly(10);
  }

  @Test
  void refusesToFlushAnotherMountsImageOnTheSamePath() throws IOException {
    FakeCalls calls = new FakeCalls();
    MountIdentity identity = MountIdentity.record(MNT, calls);
    calls.deviceAtMountPoint = OTHERS; // umount -l, then another mount on the path

    assertThatThrownBy(() -> identity.flush("vm.img"))
        .isInstanceOf(CbtfsException.class)
        .hasMessageContaining("/mnt/vms is no longer this mount (detached lazily?)");
    assertThat(calls.synced).isEmpty();
    assertThat(calls.closed).containsExactly(10);
  }

  @Test
  void saysTheMountWasDetachedWhenTheImageIsGoneFromThePath() throws IOException {
    FakeCalls calls = new FakeCalls();
    MountIdentity identity = MountIdentity.record(MNT, calls);
    calls.deviceAtMountPoint = 8; // nothing mounted there now: the folder below shows

    assertThatThrownBy(() -> identity.flush("missing.img"))
        .isInstanceOf(CbtfsException.class)
        .hasMessageContaining("no longer this mount")
        .hasMessageContaining("missing.img");
  }

  @Test
  void anImageMissingFromThisMountIsAPlainError() throws IOException {
    MountIdentity identity = MountIdentity.record(MNT, new FakeCalls());

    assertThatThrownBy(() -> identity.flush("missing.img"))
        .isInstanceOf(ErrnoException.class)
        .isNotInstanceOf(CbtfsException.class);
  }

  @Test
  void unmountsOnlyWhileThePathShowsThisMount() throws IOException {
    FakeCalls calls = new FakeCalls();
    MountIdentity identity = MountIdentity.record(MNT, calls);
    List<String> unmounted = new ArrayList<>();

    assertThat(identity.unmountIfAtPath(() -> unmounted.add("first"))).isTrue();
    calls.deviceAtMountPoint = OTHERS;
    assertThat(identity.unmountIfAtPath(() -> unmounted.add("second"))).isFalse();
    calls.deviceAtMountPoint = -1; // the path is gone
    assertThat(identity.unmountIfAtPath(() -> unmounted.add("third"))).isFalse();

    assertThat(unmounted).containsExactly("first");
  }
}
