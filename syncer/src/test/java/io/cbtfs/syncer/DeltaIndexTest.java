package io.cbtfs.syncer;

import static org.assertj.core.api.Assertions.assertThat;

import io.cbtfs.syncer.local.ArchiveTarget;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DeltaIndexTest {
  @TempDir Path tmp;

  /** A raw record's payload is its bytes: a read allocates one array of its length, not two. */
  @Test
  void aRawRecordIsReadIntoOneArrayOfItsLength() throws IOException {
    try (SyncFixture fx = new SyncFixture(tmp, 4 << 20, 1)) { // random: its records stay raw
      new Syncer(256 << 10, 2)
          .sync(fx.source(), new ArchiveTarget(tmp.resolve("archive")), false, SyncProgress.NONE);
    }
    Path delta = tmp.resolve("archive").resolve("gen-00000001.cbtd");
    try (FileChannel ch = FileChannel.open(delta)) {
      DeltaIndex index = DeltaIndex.of(ch, delta.toString());
      DeltaIndex.Entry raw =
          index.entries().stream()
              .filter(e -> e.kind() == RecordKind.DATA_RAW)
              .findFirst()
              .orElseThrow();
      index.read(raw); // classes loaded and the path warm: what is counted is the read's own
      com.sun.management.ThreadMXBean threads =
          (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
      long before = threads.getCurrentThreadAllocatedBytes();
      byte[] bytes = index.read(raw);
      long allocated = threads.getCurrentThreadAllocatedBytes() - before;
      assertThat(bytes).hasSize(raw.byteLength());
      assertThat(allocated).isLessThan(raw.byteLength() * 3L / 2);
    }
  }
}
