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
          CliRun.of("mount", daemon, "--max-memory", "191M", backing.toString(), mnt.toString());
      assertThat(small.exitCode()).as(daemon).isEqualTo(2);
      assertThat(small.err().lines().findFirst().orElseThrow())
          .isEqualTo(
              "invalid --max-memory '191M': a mount needs at least 192M "
                  + "(the JVM itself takes about 90M, a sync's buffers 32M)");
      assertThat(small.err()).doesNotContain("Exception").doesNotContain("\tat ");
      CliRun bad = CliRun.of("mount", daemon, "--max-memory=lots", backing.toString(), "x");
      assertThat(bad.exitCode()).isEqualTo(2);
      assertThat(bad.err()).startsWith("invalid --max-memory 'lots': ");
    }
    assertThat(io.cbtfs.fs.mount.ProcMounts.isMounted(mnt)).isFalse();
  }

  @Test
  void aDaemonMountHandsItsBudgetToTheChild() {
    CommandLine cli = CbtfsCommand.newCommandLine();
    cli.parseArgs("mount", "--daemon", "--max-memory", "192M", "/srv/images", "/mnt/images");
    MountCommand parent = cli.getSubcommands().get("mount").getCommand();
    List<String> child = parent.childArgs(parent.options(), parent.budget());

    CommandLine again = CbtfsCommand.newCommandLine();
    again.parseArgs(child.toArray(String[]::new));
    MountCommand daemon = again.getSubcommands().get("mount").getCommand();
    assertThat(daemon.daemonChild).isTrue();
    assertThat(daemon.budget().bytes()).isEqualTo(192L << 20);
  }

  @Test
  void binCbtfsGetsTheFlagsAndTheEnvironmentOfAForegroundMount() {
    assertThat(MemoryBudget.forLauncher(List.of("--max-memory", "192M", "/b", "/m"), ""))
        .isEqualTo(
            "-Xmx48m -XX:MaxDirectMemorySize=48m -XX:+UseSerialGC -Dcbtfs.max-memory=192m\n"
                + "MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=131072\n");
    assertThat(MemoryBudget.forLauncher(List.of("/b", "/m"), "-Xss1m -XX:+UseParallelGC"))
        .startsWith("-Xmx64m -XX:MaxDirectMemorySize=64m -Dcbtfs.max-memory=256m\n");
  }

  @Test
  void syncsBeyondWhatTheDirectBuffersHoldWaitTheirTurn() {
    long heap = 6L << 30;
    assertThat(MemoryBudget.syncsAtOnce(MemoryBudget.parse("256M").jvmFlags(false), heap))
        .isEqualTo(2);
    assertThat(
            MemoryBudget.syncsAtOnce(
                List.of("-XX:MaxDirectMemorySize=64m", "-XX:MaxDirectMemorySize=1g"), heap))
        .as("the last one counts")
        .isEqualTo(32);
    assertThat(MemoryBudget.syncsAtOnce(List.of("-XX:MaxDirectMemorySize=8m"), heap)).isOne();
    assertThat(MemoryBudget.syncsAtOnce(List.of(), heap))
        .as("the JVM's default: the heap")
        .isEqualTo(192);
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
