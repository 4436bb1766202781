package io.cbtfs.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.cbtfs.syncer.SyncReport;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SyncHistoryTest {
  @TempDir Path state;

  private static SyncReport report(String target, long generation) {
    return new SyncReport(target, generation, false, 0, 0, 0, 0, 0, 0, "");
  }

  @Test
  void everyCharacterOfATargetRoundTrips() throws IOException {
    StringBuilder odd = new StringBuilder("file:/backup/");
    for (char c = 1; c < 256; c++) {
      if (c != '/') {
        odd.append(c);
      }
    }
    odd.append("%41\t\n\r%");
    SyncHistory.record(state, "vm.img", report(odd.toString(), 7), "L1");
    SyncHistory.record(state, "vm.img", report("file:/plain.img", 8), "L1");

    assertThat(SyncHistory.read(state, "vm.img"))
        .extracting(SyncHistory.Entry::target, SyncHistory.Entry::generation)
        .containsExactly(
            org.assertj.core.groups.Tuple.tuple(odd.toString(), 7L),
            org.assertj.core.groups.Tuple.tuple("file:/plain.img", 8L));
  }

  @Test
  void anEarlierImageOfTheSameNameIsNotShown() throws IOException {
    SyncHistory.record(state, "vm.img", report("file:/old-replica.img", 5), "deleted-image");
    SyncHistory.record(state, "vm.img", report("file:/new-replica.img", 1), "new-image");

    var status =
        new ImageStatus(
            "vm.img",
            0,
            65536,
            0,
            0,
            1,
            "new-image",
            "offline",
            true,
            "",
            false,
            SyncHistory.read(state, "vm.img"),
            "");

    assertThat(status.targets())
        .extracting(SyncHistory.Entry::target)
        .containsExactly("file:/new-replica.img");
    assertThat(Files.readString(SyncHistory.file(state, "vm.img"))).doesNotContain("old-replica");
  }

  @Test
  void readsLinesWrittenBeforeTheLineageWasRecorded() throws IOException {
    Files.writeString(
        SyncHistory.file(state, "vm.img"),
        "file:/r.img\t3\t2026-01-01T00:00:00Z\n",
        StandardCharsets.UTF_8);
    assertThat(SyncHistory.ofLineage(SyncHistory.read(state, "vm.img"), "any"))
        .extracting(SyncHistory.Entry::generation)
        .containsExactly(3L);
  }
}
