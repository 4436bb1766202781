package io.cbtfs.fs;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

class OpenFilesTest {
  private final OpenFiles files = new OpenFiles();

  private static OpenImage image(int fd) {
    return new OpenImage("image" + fd, fd, null);
  }

  private static void assertBadHandle(ThrowingGet get) {
    assertThatThrownBy(get::run)
        .isInstanceOfSatisfying(ErrnoException.class, e -> assertThat(e.errno()).isEqualTo(9));
  }

  @FunctionalInterface
  private interface ThrowingGet {
    void run() throws Exception;
  }

  @Test
  void handlesAreSlotsFromZeroAndFindTheirImage() throws Exception {
    OpenImage a = image(10);
    OpenImage b = image(11);
    assertThat(files.add(a)).isZero();
    assertThat(files.add(b)).isEqualTo(1);
    assertThat(files.get(0)).isSameAs(a);
    assertThat(files.get(1)).isSameAs(b);
    assertThat(files.openCount()).isEqualTo(2);
  }

  @Test
  void aReleasedHandleIsReusedLowestFirst() throws Exception {
    for (int i = 0; i < 4; i++) {
      files.add(image(i));
    }
    assertThat(files.remove(2).fd()).isEqualTo(2);
    assertThat(files.remove(0).fd()).isZero();
    assertThat(files.add(image(20))).isZero();
    assertThat(files.add(image(22))).isEqualTo(2);
    assertThat(files.add(image(24))).isEqualTo(4);
    assertThat(files.get(1).fd()).isEqualTo(1);
    assertThat(files.get(3).fd()).isEqualTo(3);
    assertThat(files.openCount()).isEqualTo(5);
  }

  @Test
  void theTableGrowsPastItsFirstSlotsAndKeepsEveryHandle() throws Exception {
    List<Long> handles = new ArrayList<>();
    for (int i = 0; i < 200; i++) {
      handles.add(files.add(image(i)));
    }
    assertThat(handles).doesNotHaveDuplicates();
    for (int i = 0; i < 200; i++) {
      assertThat(files.get(handles.get(i)).fd()).isEqualTo(i);
    }
  }

  @Test
  void aHandleNeverOpenedReleasedOrOutOfRangeIsEbadf() throws Exception {
    files.add(image(0));
    long released = files.add(image(1));
    files.remove(released);
    assertBadHandle(() -> files.get(released));
    assertBadHandle(() -> files.get(5));
    assertBadHandle(() -> files.get(-1));
    assertBadHandle(() -> files.get(1L << 32)); // an int cast would make this slot 0
    assertBadHandle(() -> files.get(Long.MAX_VALUE));
    assertBadHandle(() -> files.remove(released));
    assertBadHandle(() -> files.remove(-1));
    assertThat(files.openCount()).isEqualTo(1);
    assertThat(files.get(0).fd()).isZero();
  }

  @Test
  void removeAllReturnsEveryOpenImageAndEmptiesTheTable() throws Exception {
    for (int i = 0; i < 3; i++) {
      files.add(image(i));
    }
    files.remove(1);
    assertThat(files.removeAll()).extracting(OpenImage::fd).containsExactly(0, 2);
    assertThat(files.openCount()).isZero();
    assertBadHandle(() -> files.get(0));
    assertThat(files.add(image(7))).isZero();
  }

  @Test
  void awaitNoneOpenEndsAtTheDeadlineOrWhenTheLastHandleIsReleased() throws Exception {
    assertThat(files.awaitNoneOpen(System.nanoTime())).isTrue();
    long fh = files.add(image(0));
    assertThat(files.awaitNoneOpen(System.nanoTime())).isFalse();
    Thread releaser =
        new Thread(
            () -> {
              try {
                files.remove(fh);
              } catch (ErrnoException e) {
                throw new AssertionError(e);
              }
            });
    releaser.start();
    assertThat(files.awaitNoneOpen(System.nanoTime() + TimeUnit.SECONDS.toNanos(30))).isTrue();
    releaser.join();
  }
}
