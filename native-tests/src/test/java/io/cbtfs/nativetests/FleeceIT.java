package io.cbtfs.nativetests;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Point-in-time syncs under a real client that checks every byte it wrote: fio writes with crc32c
 * verification through the mount while {@code cbtfs sync} runs in a loop, so copy-before-write sits
 * under every overwrite of a block a sync has not read. fio's verify must pass, and the replica
 * must verify too. A fleece whose disk fills (the state folder on a 1 MiB tmpfs) fails the sync in
 * one line naming the folder, never the writer, and loses nothing.
 */
class FleeceIT {
  private static final int IMAGE = 64 << 20;

  @TempDir Path tmp;
  DaemonMount mount;
  Process fio;
  Path small;
  ProcessHandle daemon;

  @AfterEach
  void tearDown() throws Exception {
    if (fio != null) {
      fio.destroyForcibly().waitFor();
    }
    if (mount != null) {
      mount.close();
    }
    if (small != null) {
      daemon.onExit().get(60, TimeUnit.SECONDS); // its log and socket are on the tmpfs till then
      Tools.exec(Tools.list("umount", small.toString()), 30);
    }
  }

  /** fio writing 64 KiB blocks at random with crc32c headers, then reading all of them back. */
  private static List<String> fioJob(Path file, String... more) {
    List<String> job =
        new ArrayList<>(
            List.of(
                "fio",
                "--name=pit",
                "--filename=" + file,
                "--size=" + IMAGE,
                "--bs=64k",
                "--rw=randwrite",
                "--ioengine=psync",
                "--verify=crc32c",
                "--randseed=7",
                "--verify_state_save=0"));
    job.addAll(List.of(more));
    return job;
  }

  private Process startFio(Path image, String... more) throws IOException {
    return new ProcessBuilder(fioJob(image, more))
        .redirectErrorStream(true)
        .redirectOutput(tmp.resolve("fio.out").toFile())
        .start();
  }

  private Path prepareImage() throws IOException {
    Tools.require("fio");
    mount = DaemonMount.prepare(tmp);
    byte[] initial = new byte[IMAGE];
    new Random(3).nextBytes(initial);
    Files.write(mount.backingFile("disk.img"), initial);
    return mount.image("disk.img");
  }

  private String fioResult(Process p) throws Exception {
    assertThat(p.waitFor(300, TimeUnit.SECONDS)).as("fio within 300 s").isTrue();
    String out = Files.readString(tmp.resolve("fio.out"));
    assertThat(p.exitValue()).as(out).isZero();
    assertThat(out).as("fio's verify").doesNotContain("verify: bad").contains("err= 0");
    return out;
  }

  @Test
  void fioVerifyPassesWhilePointInTimeSyncsRun() throws Exception {
    Path image = prepareImage();
    mount.mount();
    Path replica = tmp.resolve("replica.img");
    String target = "file:" + replica;
    assertThat(Cbtfs.run("sync", image.toString(), target).exitCode()).isZero();

    fio = startFio(image, "--do_verify=1", "--verify_backlog=64", "--loops=3");
    int syncs = 0;
    while (fio.isAlive()) {
      Tools.Result sync = Cbtfs.run("sync", image.toString(), target);
      assertThat(sync.exitCode()).as(sync.output()).isZero();
      syncs++;
    }
    fioResult(fio);
    assertThat(syncs).as("syncs while fio wrote").isGreaterThan(1);

    assertThat(Cbtfs.run("sync", image.toString(), target).exitCode()).isZero(); // writes paused
    assertThat(Files.mismatch(mount.backingFile("disk.img"), replica)).isEqualTo(-1L);
    String verify =
        Tools.run("fio verify_only on the replica", fioJob(replica, "--verify_only", "--loops=1"));
    assertThat(verify).doesNotContain("verify: bad");
  }

  @Test
  void aFleeceOnASmallDiskFailsTheSyncNotTheWriterNorTheStateAndLosesNothing() throws Exception {
    Path image = prepareImage();
    small = Tools.tmpfs(tmp.resolve("state"), "size=17m,mode=0700");
    daemon = mount.mount("--state-dir", small.toString());
    Path replica = tmp.resolve("replica.img");
    String target = "file:" + replica;
    assertThat(Cbtfs.run("sync", image.toString(), target).exitCode()).isZero();

    // fio reads back and checks what it wrote every 64 writes, for 20 s, while syncs run
    fio = startFio(image, "--verify_backlog=64", "--time_based", "--runtime=20");
    Tools.Result failed = null;
    while (fio.isAlive() && failed == null) { // until a write lands on a block not yet read
      Tools.Result sync =
          Cbtfs.run("sync", "--full", "--fleece-limit", "1G", image.toString(), target);
      if (sync.exitCode() != 0) {
        failed = sync;
      }
    }
    assertThat(failed).as("a sync whose fleece outgrew the disk").isNotNull();
    assertThat(failed.exitCode()).isEqualTo(1);
    assertThat(failed.output().strip())
        .matches(
            "cbtfs sync: the point-in-time snapshot broke \\(the fleece is full: \\d+[KM]? of old"
                + " blocks, all that "
                + Pattern.quote(small.toString())
                + " can spare \\(it keeps 16M free for the tracking state\\)\\): the sync is"
                + " abandoned and its blocks stay dirty for the next one \\(retry, raise"
                + " --fleece-limit, or sync with --no-snapshot\\)");
    fioResult(fio); // the writer went on and every byte it read back was its own

    assertThat(Files.readString(small.resolve("mount.log")))
        .contains("sync of 'disk.img' to " + target + " failed: the point-in-time snapshot broke");
    Tools.Result again = Cbtfs.run("sync", image.toString(), target);
    assertThat(again.exitCode()).as(again.output()).isZero();
    assertThat(Files.mismatch(mount.backingFile("disk.img"), replica)).isEqualTo(-1L);
  }
}
