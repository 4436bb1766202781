package io.cbtfs.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.cbtfs.syncer.SyncProgress;
import io.cbtfs.tracker.CbtfsException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class FreezeHooksTest {
  @TempDir Path dir;

  private String append(String word) {
    return "echo " + word + " $CBTFS_IMAGE $CBTFS_TARGET >> " + dir.resolve("log");
  }

  private String log() throws IOException {
    Path log = dir.resolve("log");
    return Files.exists(log) ? Files.readString(log) : "";
  }

  @Test
  void thePostHookRunsOnceAtTheDrainNotAtTheEnd() throws IOException {
    FreezeHooks hooks = FreezeHooks.of(append("freeze"), append("thaw"), "vm.img", "file:/r");
    hooks.freeze();
    assertThat(log()).isEqualTo("freeze vm.img file:/r\n");
    SyncProgress p = hooks.around(SyncProgress.NONE);
    p.update(1, 2, 1, 2);
    assertThat(log()).as("not yet drained").doesNotContain("thaw");
    p.drained();
    assertThat(log()).isEqualTo("freeze vm.img file:/r\nthaw vm.img file:/r\n");
    assertThat(hooks.thaw()).isEmpty();
    assertThat(log()).as("once").isEqualTo("freeze vm.img file:/r\nthaw vm.img file:/r\n");
  }

  @Test
  void aFailingPreHookStopsTheSyncAndStillThaws() {
    FreezeHooks hooks = FreezeHooks.of(append("freeze") + "; exit 3", append("thaw"), "a", "b");
    assertThatThrownBy(hooks::freeze)
        .isInstanceOf(CbtfsException.class)
        .hasMessage("the --pre-hook exited with 3: the sync did not start");
    assertThat(hooks.thaw()).isEmpty();
    assertThat(dir.resolve("log")).content().isEqualTo("freeze a b\nthaw a b\n");
  }

  @Test
  void aFailingPostHookIsAWarning() throws IOException {
    FreezeHooks hooks = FreezeHooks.of("true", "exit 4", "a", "b");
    hooks.freeze();
    hooks.around(SyncProgress.NONE).drained();
    assertThat(hooks.thaw())
        .isEqualTo("the --post-hook exited with 4 (is the guest still frozen?)");
  }

  /** The JVM's shutdown hooks as a list: "exiting" runs what is registered. */
  private static final class FakeExit implements FreezeHooks.ExitHooks {
    final List<Thread> hooks = new ArrayList<>();

    @Override
    public void add(Thread hook) {
      hooks.add(hook);
    }

    @Override
    public void remove(Thread hook) {
      hooks.remove(hook);
    }

    void exit() {
      for (Thread t : List.copyOf(hooks)) {
        t.run();
      }
    }
  }

  @Test
  void anExitWhileFrozenStillThawsOnce() throws IOException {
    FakeExit exit = new FakeExit();
    FreezeHooks hooks = FreezeHooks.of(append("freeze"), append("thaw"), "a", "b", exit);
    hooks.freeze();

    exit.exit(); // Ctrl-C before the drain: the sync's thread never gets to its thaw

    assertThat(log()).isEqualTo("freeze a b\nthaw a b\n");
    hooks.around(SyncProgress.NONE).drained();
    assertThat(hooks.thaw()).isEmpty();
    assertThat(log()).as("once").isEqualTo("freeze a b\nthaw a b\n");
  }

  /**
   * A freeze that never ends (a guest agent that hangs): an exit during it ends the pre-hook and
   * what it started, then thaws once; it waited for the pre-hook, so SIGTERM never stopped the sync
   * and the guest stayed frozen.
   */
  @Test
  void anExitDuringAHangingPreHookEndsItAndThawsOnce() throws Exception {
    FakeExit exit = new FakeExit();
    Path pid = dir.resolve("pid");
    FreezeHooks hooks =
        FreezeHooks.of(
            append("freeze") + "; sleep 300 & echo $! > " + pid + "; wait",
            append("thaw"),
            "a",
            "b",
            exit);
    java.util.concurrent.CompletableFuture<Throwable> freezing =
        java.util.concurrent.CompletableFuture.supplyAsync(
            () -> {
              try {
                hooks.freeze();
                return null;
              } catch (IOException | RuntimeException e) {
                return e;
              }
            });
    long deadline = System.nanoTime() + 30_000_000_000L;
    while (!Files.exists(pid) || Files.readString(pid).isBlank()) { // the hook is in its sleep
      assertThat(System.nanoTime()).as("the pre-hook started").isLessThan(deadline);
      Thread.onSpinWait();
    }
    ProcessHandle sleeper = ProcessHandle.of(Long.parseLong(Files.readString(pid).trim())).get();

    org.junit.jupiter.api.Assertions.assertTimeoutPreemptively(
        java.time.Duration.ofSeconds(30), exit::exit);

    assertThat(freezing.get(30, java.util.concurrent.TimeUnit.SECONDS))
        .isInstanceOf(CbtfsException.class)
        .hasMessage("the --pre-hook was ended by the exit: the sync did not start");
    assertThat(log()).isEqualTo("freeze a b\nthaw a b\n");
    assertThat(sleeper.onExit().get(30, java.util.concurrent.TimeUnit.SECONDS).isAlive())
        .as("what the pre-hook started ends with it")
        .isFalse();
  }

  @Test
  void aThawedSyncLeavesNoHookBehind() throws IOException {
    FakeExit exit = new FakeExit();
    FreezeHooks hooks = FreezeHooks.of(append("freeze"), append("thaw"), "a", "b", exit);
    hooks.freeze();
    hooks.around(SyncProgress.NONE).drained();

    assertThat(exit.hooks).isEmpty();
    exit.exit();
    assertThat(log()).isEqualTo("freeze a b\nthaw a b\n");
  }

  @Test
  void noHooksNoThaw() throws IOException {
    FreezeHooks.NONE.freeze();
    assertThat(FreezeHooks.NONE.around(SyncProgress.NONE)).isSameAs(SyncProgress.NONE);
    assertThat(FreezeHooks.NONE.thaw()).isEmpty();
  }
}
