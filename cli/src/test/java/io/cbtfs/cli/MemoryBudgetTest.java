package io.cbtfs.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

class MemoryBudgetTest {
  @TempDir Path tmp;

  @Test
  void theBudgetIsSplitIntoHeapAndDirectMemoryUnderTheSerialCollector() {
    assertThat(MemoryBudget.parse("256M").jvmFlags(false))
        .containsExactly(
            "-Xmx64m",
            "-XX:MaxDirectMemorySize=64m",
            "-XX:+UseSerialGC",
            "-Dcbtfs.max-memory=256m");
    assertThat(MemoryBudget.parse("1G").jvmFlags(false))
        .startsWith("-Xmx256m", "-XX:MaxDirectMemorySize=256m");
  }

  @Test
  void aCollectorChosenByTheOperatorIsKept() {
    List<String> parent = List.of("-XX:+UseG1GC", "-Xmx1g");
    assertThat(DaemonLauncher.jvmArgs(MemoryBudget.parse("256M"), parent))
        .doesNotContain("-XX:+UseSerialGC")
        .endsWith("-XX:+UseG1GC", "-Xmx1g") // later flags win: the operator's
        .contains("-XX:MaxDirectMemorySize=64m");
    assertThat(DaemonLauncher.jvmArgs(MemoryBudget.parse("256M"), List.of("-Xshare:auto")))
        .containsExactly(
            "-Xmx64m",
            "-XX:MaxDirectMemorySize=64m",
            "-XX:+UseSerialGC",
            "-Dcbtfs.max-memory=256m",
            "-Xshare:auto");
  }

  @Test
  void aTooSmallOrMalformedBudgetIsAOneLineUsageError() throws Exception {
    Path backing = Files.createDirectory(tmp.resolve("b"));
    Path mnt = Files.createDirectory(tmp.resolve("m"));
    for (String daemon : new String[] {"--daemon", "--verbose"}) {
      CliRun small =
          CliRun.of("mount", daemon, "--max-memory", "227M", backing.toString(), mnt.toString());
      assertThat(small.exitCode()).as(daemon).isEqualTo(2);
      assertThat(small.err().lines().findFirst().orElseThrow())
          .isEqualTo(
              "cbtfs mount: invalid --max-memory '227M': a mount needs at least 228M "
                  + "(the JVM itself takes about 90M, a sync's buffers 57M); see 'cbtfs mount "
                  + "--help'");
      assertThat(small.err()).doesNotContain("Exception").doesNotContain("\tat ");
      CliRun bad = CliRun.of("mount", daemon, "--max-memory=lots", backing.toString(), "x");
      assertThat(bad.exitCode()).isEqualTo(2);
      assertThat(bad.err()).startsWith("cbtfs mount: invalid --max-memory 'lots': ");
    }
    assertThat(io.cbtfs.fs.mount.ProcMounts.isMounted(mnt)).isFalse();
  }

  @Test
  void aDaemonMountHandsItsBudgetToTheChild() {
    CommandLine cli = CbtfsCommand.newCommandLine();
    cli.parseArgs("mount", "--daemon", "--max-memory", "228M", "/srv/images", "/mnt/images");
    MountCommand parent = cli.getSubcommands().get("mount").getCommand();
    List<String> child = parent.childArgs(parent.options(), parent.budget());

    CommandLine again = CbtfsCommand.newCommandLine();
    again.parseArgs(child.toArray(String[]::new));
    MountCommand daemon = again.getSubcommands().get("mount").getCommand();
    assertThat(daemon.daemonChild).isTrue();
    assertThat(daemon.budget().bytes()).isEqualTo(228L << 20);
  }

  @Test
  void binCbtfsGetsTheFlagsAndTheEnvironmentOfAForegroundMount() {
    assertThat(MemoryBudget.forLauncher(List.of("--max-memory", "240M", "/b", "/m"), ""))
        .isEqualTo(
            "-Xmx60m -XX:MaxDirectMemorySize=60m -XX:+UseSerialGC -Dcbtfs.max-memory=240m\n"
                + "MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=131072\n");
    assertThat(MemoryBudget.forLauncher(List.of("/b", "/m"), "-Xss1m -XX:+UseParallelGC"))
        .startsWith("-Xmx64m -XX:MaxDirectMemorySize=64m -Dcbtfs.max-memory=256m\n");
  }

  @Test
  void aSyncNeedsTwoRecordsAThreadPlusALocalTargetsStagingAndBorrowedPayloads() {
    long record = (2L << 20) + 4096 + 4112 + 16; // read buffer + page, LZ4 bound of 1 MiB
    long sample = 65536 + 257 + 16;
    assertThat(MemoryBudget.syncDirectBytes(8))
        .isEqualTo((2 * 8 + 8) * record + (8L << 20) + 8 * sample)
        .isBetween(56L << 20, 57L << 20);
    assertThat(MemoryBudget.syncDirectBytes(16))
        .isEqualTo((2 * 16 + 8) * record + (8L << 20) + 16 * sample)
        .as("a 16-core host's sync: more than the default's 64 MiB")
        .isGreaterThan(64L << 20);
    assertThat(MemoryBudget.syncDirectBytes(1))
        .as("the syncer runs 8 readers at least")
        .isEqualTo(MemoryBudget.syncDirectBytes(8));
  }

  @Test
  void aMountCapsItsSyncsReadersSoThatOneSyncFitsTheDirectBuffers() {
    long direct = 64L << 20; // the default budget's
    assertThat(MemoryBudget.syncThreads(direct, 2)).as("fewer cores: the syncer's 8").isEqualTo(8);
    assertThat(MemoryBudget.syncThreads(direct, 8)).isEqualTo(8);
    int capped = MemoryBudget.syncThreads(direct, 16);
    assertThat(capped).isEqualTo(9);
    assertThat(MemoryBudget.syncDirectBytes(capped)).isLessThanOrEqualTo(direct);
    assertThat(MemoryBudget.syncDirectBytes(capped + 1)).isGreaterThan(direct);
    assertThat(MemoryBudget.syncThreads(direct, 64)).isEqualTo(9);
    assertThat(MemoryBudget.syncThreads(1L << 30, 16)).as("room for all cores").isEqualTo(16);
    assertThat(MemoryBudget.syncThreads(MemoryBudget.syncDirectBytes(12), 16)).isEqualTo(12);
    assertThat(MemoryBudget.syncThreads(MemoryBudget.syncDirectBytes(12) - 1, 16)).isEqualTo(11);
    assertThat(MemoryBudget.syncThreads(8L << 20, 16)).as("too small: the least").isEqualTo(8);
  }

  @Test
  void syncsBeyondWhatTheDirectBuffersHoldWaitTheirTurn() {
    long heap = 6L << 30;
    long defaultDirect = MemoryBudget.directLimit(MemoryBudget.parse("256M").jvmFlags(false), heap);
    assertThat(defaultDirect).isEqualTo(64L << 20);
    assertThat(
            MemoryBudget.directLimit(
                List.of("-XX:MaxDirectMemorySize=64m", "-XX:MaxDirectMemorySize=1g"), heap))
        .as("the last one counts")
        .isEqualTo(1L << 30);
    assertThat(MemoryBudget.directLimit(List.of(), heap))
        .as("the JVM's default: the heap")
        .isEqualTo(heap);

    assertThat(MemoryBudget.syncsAtOnce(defaultDirect, 8)).isOne();
    assertThat(MemoryBudget.syncsAtOnce(MemoryBudget.syncDirectBytes(8) * 2, 8)).isEqualTo(2);
    assertThat(MemoryBudget.syncsAtOnce(MemoryBudget.syncDirectBytes(8) * 2 - 1, 8)).isOne();
    assertThat(MemoryBudget.syncsAtOnce(MemoryBudget.syncDirectBytes(16) * 3, 16)).isEqualTo(3);
    assertThat(MemoryBudget.syncsAtOnce(MemoryBudget.syncDirectBytes(16) * 3, 8))
        .as("smaller syncs: more at once")
        .isEqualTo(4);
    assertThat(MemoryBudget.syncsAtOnce(8L << 20, 8)).as("one at least").isOne();
    assertThat(MemoryBudget.syncsAtOnce(128L << 20, 8)).as("--max-memory 512M").isEqualTo(2);
  }

  @Test
  void theSmallestBudgetHoldsOneSyncAtTheSyncersFewestReaders() {
    assertThat(MemoryBudget.MIN_BYTES).isEqualTo(228L << 20);
    long direct =
        MemoryBudget.directLimit(MemoryBudget.parse("228M").jvmFlags(false), Long.MAX_VALUE);
    assertThat(direct).isGreaterThanOrEqualTo(MemoryBudget.syncDirectBytes(8));
    assertThat(MemoryBudget.syncsAtOnce(direct, MemoryBudget.syncThreads(direct, 2))).isOne();
    assertThat(direct - (1L << 20))
        .as("the next smaller budget's direct share")
        .isLessThan(MemoryBudget.syncDirectBytes(8));
  }

  @Test
  void binCbtfsFindsTheBudgetOfAMountCommandLine() {
    assertThat(MemoryBudget.ofMountArgs(List.of("/b", "/m")).bytes()).isEqualTo(256L << 20);
    assertThat(MemoryBudget.ofMountArgs(List.of("--max-memory", "1G", "/b", "/m")).bytes())
        .isEqualTo(1L << 30);
    assertThat(MemoryBudget.ofMountArgs(List.of("-v", "--max-memory=300M", "/b", "/m")).bytes())
        .isEqualTo(300L << 20);
    assertThat(MemoryBudget.ofMountArgs(List.of("--", "--max-memory=1G", "/m")).bytes())
        .as("after --, a folder's name")
        .isEqualTo(256L << 20);
    assertThatThrownBy(() -> MemoryBudget.ofMountArgs(List.of("--max-memory=1M", "/b", "/m")))
        .isInstanceOf(IllegalArgumentException.class);
  }
}
