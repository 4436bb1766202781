package io.cbtfs.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import org.junit.jupiter.api.Test;

/** {@link Errors}: the one line an operator reads keeps its hint. */
class ErrorsTest {
  @Test
  void runningOutOfMemoryNamesTheBudgetEvenWrapped() {
    OutOfMemoryError oom = new OutOfMemoryError("Java heap space");
    assertThat(Errors.describe(oom))
        .isEqualTo("out of memory: Java heap space (a mount's limit is its --max-memory)");
    // as an S3 upload thread's failure reaches the sync: wrapped in an IOException
    IOException wrapped = new IOException("upload failed: " + oom, oom);
    assertThat(Errors.describe(wrapped))
        .isEqualTo(
            "upload failed: java.lang.OutOfMemoryError: Java heap space (a mount's limit is its"
                + " --max-memory)");
    assertThat(Errors.describe(new IOException("disk gone"))).isEqualTo("disk gone");
  }
}
