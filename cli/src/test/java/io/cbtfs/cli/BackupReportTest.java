package io.cbtfs.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;

/** {@code cbtfs backup --json}: the names and their order are a contract for scripts. */
class BackupReportTest {
  @Test
  void itsJsonListsEveryUriQuotedInOrder() {
    BackupReport open =
        new BackupReport(
            "vm.img@nightly",
            List.of("nbd+unix:///vm.img@nightly?socket=/run/a\"b", "nbd://127.0.0.1:10809/x"),
            "nbd:nightly",
            7,
            -1,
            1 << 20,
            65536,
            16,
            16 << 16,
            "a new cursor: every block",
            BackupReport.OPEN);

    assertThat(open.json())
        .isEqualTo(
            "{\"export\":\"vm.img@nightly\",\"uris\":[\"nbd+unix:///vm.img@nightly?socket=/run/a\\\"b\","
                + "\"nbd://127.0.0.1:10809/x\"],\"cursor\":\"nbd:nightly\",\"generation\":7,"
                + "\"base\":-1,\"imageSize\":1048576,\"blockSize\":65536,\"dirtyBlocks\":16,"
                + "\"dirtyBytes\":1048576,\"why\":\"a new cursor: every block\",\"state\":\"open\"}");
  }

  @Test
  void anEndedBackupHasNoUris() {
    BackupReport ended =
        new BackupReport(
            "vm.img@n", List.of(), "nbd:n", 7, 6, 4096, 4096, 0, 0, "", BackupReport.COMMITTED);

    assertThat(ended.json()).contains("\"uris\":[],\"cursor\":\"nbd:n\"");
  }
}
