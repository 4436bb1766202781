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
