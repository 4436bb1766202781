package io.cbtfs.nativetests;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.cbtfs.fs.mount.ProcMounts;
import io.cbtfs.syncer.DeltaIndex;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code cbtfs mount --read-only cbtfs://HOST:PORT/NAME?archive}: the generations a real {@code
 * cbtfs receive} (TLS) keeps, read in place over the network, each byte-identical to {@code cbtfs
 * restore} of the receiver's archive folder; a damaged record fails exactly its range; an overlay
 * works on top.
 */
class RemoteGenerationMountIT {
  private static final Pattern GENERATION = Pattern.compile("generation (\\d+)");
  private static final int IMAGE_BYTES = 8 << 20;

  @TempDir Path tmp;
  DaemonMount folder;
  Path root;
  ReceiverProcess receiver;

  @BeforeEach
  void setUp() throws Exception {
    folder = DaemonMount.prepare(tmp);
    Files.write(folder.backingFile("vm1.raw"), Tools.random(IMAGE_BYTES, 1));
    folder.mount();
    root = Files.createDirectory(tmp.resolve("receiver"));
    receiver = ReceiverProcess.init(root);
    receiver.start();
  }

  @AfterEach
  void tearDown() throws Exception {
    receiver.close();
    folder.close();
  }

  long sync(String target) {
    Tools.Result r = Cbtfs.run("sync", folder.image("vm1.raw").toString(), target);
    assertThat(r.exitCode()).as(r.output()).isZero();
    Matcher m = GENERATION.matcher(r.output());
    assertThat(m.find()).as(r.output()).isTrue();
    return Long.parseLong(m.group(1));
  }

  void write(long offset, byte[] data) throws IOException {
    try (FileChannel ch = FileChannel.open(folder.image("vm1.raw"), StandardOpenOption.WRITE)) {
      ch.write(ByteBuffer.wrap(data), offset);
    }
  }

  @Test
  void everyGenerationOfAReceiversArchiveReadsAsItsRestore() throws Exception {
    Tools.require("cmp");
    String target = receiver.uri("vm1") + "&archive";
    List<Long> generations = new ArrayList<>();
    List<Path> copies = new ArrayList<>();
    Random rnd = new Random(2);
    for (int step = 0; step < 3; step++) {
      if (step > 0) {
        write(rnd.nextInt(IMAGE_BYTES - 300_000), Tools.random(300_000, step));
        write(6 << 20, new byte[1 << 20]); // zeros over data
      }
      generations.add(sync(target));
      Path copy = tmp.resolve("copy-" + step);
      Files.copy(folder.backingFile("vm1.raw"), copy);
      copies.add(copy);
    }
    Path archive = root.resolve("vm1.archive");
    List<Path> restored = new ArrayList<>();
    for (long g : generations) {
      Path out = tmp.resolve("restored-" + g);
      Tools.Result r =
          Cbtfs.run(
              "restore", "archive:" + archive, "--generation", Long.toString(g), out.toString());
      assertThat(r.exitCode()).as(r.output()).isZero();
      restored.add(out);
    }
    // the newest generation's first data record, damaged at rest on the receiver
    Path delta = archive.resolve(String.format("gen-%08d.cbtd", generations.get(2)));
    DeltaIndex.Entry record = GenerationMountIT.firstDataRecord(delta);
    GenerationMountIT.flipByte(delta, record.payloadAt() + record.payloadLength() / 2);

    Path overlay = tmp.resolve("overlay");
    try (ReadOnlyMountProcess m =
        ReadOnlyMountProcess.start(
            tmp.resolve("ro"), Map.of(), target, "--overlay", overlay.toString())) {
      try (var files = Files.list(m.mnt)) {
        assertThat(files.map(p -> p.getFileName().toString()))
            .containsExactlyInAnyOrder(
                "vm1",
                "vm1@" + generations.get(0),
                "vm1@" + generations.get(1),
                "vm1@" + generations.get(2));
      }
      // every other generation reads as its restore
      for (int i = 0; i < 2; i++) {
        Path file = m.mnt.resolve("vm1@" + generations.get(i));
        Tools.run("cmp generation " + i, "cmp", file.toString(), restored.get(i).toString());
      }
      // the damaged generation fails exactly the record's range; the rest reads as its copy
      Path damaged = m.mnt.resolve("vm1@" + generations.get(2));
      long start = record.byteOffset();
      long end = start + record.byteLength();
      assertThatThrownBy(() -> GenerationMountIT.pread(damaged, start, 4096))
          .isInstanceOf(IOException.class)
          .hasMessageContaining("Input/output error");
      assertThatThrownBy(() -> GenerationMountIT.pread(damaged, end - 4096, 4096))
          .isInstanceOf(IOException.class);
      if (start >= 4096) {
        assertThat(GenerationMountIT.pread(damaged, start - 4096, 4096))
            .isEqualTo(GenerationMountIT.slice(copies.get(2), start - 4096, 4096));
      }
      assertThat(GenerationMountIT.pread(damaged, end, 4096))
          .isEqualTo(GenerationMountIT.slice(copies.get(2), end, 4096));
      // the overlay on top: a whole block written to a generation reads back
      Path newest = m.mnt.resolve("vm1@" + generations.get(0));
      byte[] block = Tools.random(64 << 10, 7);
      Tools.pwrite(newest, 64 << 10, block);
      assertThat(GenerationMountIT.pread(newest, 64 << 10, block.length)).isEqualTo(block);
      String log = m.stop();
      assertThat(log)
          .contains(
              "cbtfs://127.0.0.1:"
                  + receiver.port
                  + "/vm1.archive/"
                  + String.format("gen-%08d.cbtd", generations.get(2)))
          .contains("checksum mismatch");
    }
    assertThat(ProcMounts.isMounted(tmp.resolve("ro"))).isFalse();
    assertThat(Files.exists(overlay.resolve("vm1@" + generations.get(0) + ".img"))).isTrue();
  }
}
