package io.cbtfs.fs;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.NoSuchFileException;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;

class FuseGuardTest {
  @Test
  void anOperationsResultIsReturnedAndAnActionsSuccessIsZero() {
    AtomicBoolean ran = new AtomicBoolean();
    assertThat(FuseGuard.call("read", "/a.img", () -> 4096)).isEqualTo(4096);
    assertThat(FuseGuard.call("chmod", "/a.img", () -> ran.set(true))).isZero();
    assertThat(ran).isTrue();
  }

  @Test
  void whatAnOperationThrowsIsItsNegatedErrno() {
    assertThat(call(new ErrnoException(Posix.EBADF, "bad"))).isEqualTo(-Posix.EBADF);
    assertThat(call(new NoSuchFileException("/a.img"))).isEqualTo(-Posix.ENOENT);
    assertThat(call(new IOException("disk"))).isEqualTo(-Posix.EIO);
    assertThat(call(new IllegalArgumentException("bad"))).isEqualTo(-Posix.EINVAL);
    assertThat(call(new IllegalStateException("bug"))).isEqualTo(-Posix.EIO);
  }

  @Test
  void anErrorIsEioAndNeverEscapesToTheNativeLayer() {
    FuseGuard.Action outOfMemory =
        () -> {
          throw new OutOfMemoryError("test");
        };
    FuseGuard.Operation overflow =
        () -> {
          throw new StackOverflowError();
        };
    assertThat(FuseGuard.call("write", "/a.img", outOfMemory)).isEqualTo(-Posix.EIO);
    assertThat(FuseGuard.call("read", "/a.img", overflow)).isEqualTo(-Posix.EIO);
  }

  @Test
  void anActionsFailureIsItsNegatedErrnoToo() {
    FuseGuard.Action fails =
        () -> {
          throw new ErrnoException(Posix.EROFS, "stopping");
        };
    assertThat(FuseGuard.call("unlink", "/a.img", fails)).isEqualTo(-Posix.EROFS);
  }

  private static int call(Exception failure) {
    return FuseGuard.call(
        "write",
        "/a.img",
        () -> {
          if (failure instanceof IOException io) {
            throw io;
          }
          throw (RuntimeException) failure;
        });
  }
}
