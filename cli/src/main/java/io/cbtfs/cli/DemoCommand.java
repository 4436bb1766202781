package io.cbtfs.cli;

import io.cbtfs.fs.mount.Mount;
import io.cbtfs.fs.mount.MountOptions;
import io.cbtfs.fs.mount.ProcMounts;
import io.cbtfs.syncer.SyncProgress;
import io.cbtfs.syncer.SyncReport;
import io.cbtfs.tracker.BlockGeometry;
import io.cbtfs.tracker.DirtyTracker;
import io.cbtfs.tracker.TrackingOptions;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.RandomAccessFile;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.List;
import java.util.Random;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code cbtfs demo}: the main job on a built-in sample. Makes a sample image, mounts it, writes to
 * it with dd, shows the dirty blocks, unmounts, shows the saved state, and cleans up.
 */
@Command(
    name = "demo",
    mixinStandardHelpOptions = true,
    versionProvider = CbtfsCommand.Version.class,
    header = "Run cbtfs end to end on a built-in sample image.",
    description = {
      "Run cbtfs end to end on a sample image in a temporary folder: mount, sync to a replica, write with dd, show the dirty blocks, sync again (only those blocks travel), check the replica byte for byte, unmount."
    })
final class DemoCommand implements Callable<Integer> {
  private static final long IMAGE_BYTES = 64L << 20;

  /** The demo's writes: offset and length in bytes, done with dd through the mount. */
  private static final long[][] WRITES = {
    {0, 4096}, // the first 4 KiB: block 0
    {1L << 20, 200 << 10}, // 200 KiB at 1 MiB: spans four 64 KiB blocks
    {(20L << 20) + 70_000, 1}, // a single byte
  };

  @Option(names = "--keep", description = "Keep the temporary folder (and print where it is).")
  boolean keep;

  @CommandLine.Mixin VerboseOption verbose;

  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Override
  public Integer call() throws Exception {
    Logging.configure(verbose.on, null, "warn");
    PrintWriter out = spec.commandLine().getOut();
    Path work = Files.createTempDirectory("cbtfs-demo-");
    Path backing = Files.createDirectory(work.resolve("images"));
    Path mnt = Files.createDirectory(work.resolve("mnt"));
    Path sample = backing.resolve("disk.img");
    try {
      step(out, "1. sample image: %s (%d MiB of pseudo-random data)", sample, IMAGE_BYTES >> 20);
      writeSample(sample);
      MountOptions options = MountOptions.withDefaults(backing, mnt, BlockGeometry.defaults());
      long expected;
      Path replica = work.resolve("replica").resolve("disk.img");
      Files.createDirectories(replica.getParent());
      TargetAddress target = TargetAddress.parse("file:" + replica);
      try (Mount mount = Mount.start(options);
          ControlServer control =
              ControlServer.start(mount.options().stateDir(), new RunningMount(mount))) {
        step(out, "2. mounted %s on %s (block size %s)", backing, mnt, options.geometry());
        Path image = mnt.resolve("disk.img");
        SyncReport seed = sync(image, target);
        step(
            out,
            "3. the first sync to an empty replica sends everything:%n   %s",
            SyncCommand.summary(image, seed));
        expected = expectedDirtyBlocks(options.geometry());
        for (long[] w : WRITES) {
          dd(image, w[0], w[1]);
          step(out, "4. dd wrote %d bytes at offset %d of %s", w[1], w[0], image);
        }
        ImageStatus status = StatusCommand.query(image, null);
        step(out, "5. cbtfs status %s:", image);
        out.print(status.toText().indent(3));
        step(
            out,
            "   the writes touch %d blocks; the tracker reports %d: %s",
            expected,
            status.dirtyBlocks(),
            status.dirtyBlocks() == expected ? "match" : "MISMATCH");
        if (status.dirtyBlocks() != expected) {
          return CbtfsCommand.EXIT_FAILURE;
        }
        SyncReport delta = sync(image, target);
        step(
            out,
            "6. the second sync sends only the changed blocks:%n   %s",
            SyncCommand.summary(image, delta));
        if (delta.blocks() != expected || delta.full()) {
          step(out, "   expected %d blocks", expected);
          return CbtfsCommand.EXIT_FAILURE;
        }
        long mismatch = Files.mismatch(image, replica);
        step(
            out,
            "7. image and replica are %s",
            mismatch < 0 ? "byte-identical" : "DIFFERENT from byte " + mismatch);
        if (mismatch >= 0) {
          return CbtfsCommand.EXIT_FAILURE;
        }
      }
      step(out, "8. unmounted; the saved state reads:");
      ImageStatus saved = StatusCommand.query(sample, null);
      out.print(saved.toText().indent(3));
      if (saved.dirtyBlocks() != 0 || !saved.clean() || saved.generation() != 2) {
        step(
            out,
            "   saved state does not match (%d blocks, generation %d)",
            saved.dirtyBlocks(),
            saved.generation());
        return CbtfsCommand.EXIT_FAILURE;
      }
      step(out, "demo OK: %d changed blocks tracked and sent, replica byte-identical", expected);
      return CbtfsCommand.EXIT_OK;
    } finally {
      if (ProcMounts.isMounted(mnt)) {
        Mount.unmount(mnt);
      }
      if (keep) {
        step(out, "kept %s", work);
      } else {
        deleteTree(work);
        step(out, "removed %s", work);
      }
      out.flush();
    }
  }

  /** {@code cbtfs sync IMAGE TARGET} with the defaults, through the demo's mount. */
  private static SyncReport sync(Path image, TargetAddress target) throws IOException {
    return SyncClient.run(
        image,
        null,
        target,
        false,
        SnapshotOption.DEFAULT,
        TrackingOptions.Cursors.DEFAULT,
        SyncProgress.NONE,
        null);
  }

  /** The blocks the demo's writes touch, computed by an independent tracker. */
  private static long expectedDirtyBlocks(BlockGeometry geometry) {
    DirtyTracker oracle = new DirtyTracker(geometry);
    for (long[] w : WRITES) {
      oracle.mark(w[0], w[1]);
    }
    return oracle.dirtyBlockCount();
  }

  private static void step(PrintWriter out, String format, Object... args) {
    out.printf(format + "%n", args);
    out.flush();
  }

  private static void writeSample(Path sample) throws IOException {
    Random rnd = new Random(42);
    byte[] chunk = new byte[1 << 20];
    try (RandomAccessFile f = new RandomAccessFile(sample.toFile(), "rw")) {
      for (long done = 0; done < IMAGE_BYTES; done += chunk.length) {
        rnd.nextBytes(chunk);
        f.write(chunk);
      }
    }
  }

  /** dd with byte-granular offsets (iflag/oflag count_bytes, seek_bytes), no truncation. */
  private static void dd(Path image, long offset, long length)
      throws IOException, InterruptedException {
    Process p =
        new ProcessBuilder(
                List.of(
                    "dd",
                    "if=/dev/urandom",
                    "of=" + image,
                    "bs=64K",
                    "count=" + length,
                    "seek=" + offset,
                    "iflag=count_bytes,fullblock",
                    "oflag=seek_bytes",
                    "conv=notrunc,fsync",
                    "status=none"))
            .redirectErrorStream(true)
            .start();
    String output = new String(p.getInputStream().readAllBytes()).trim();
    if (p.waitFor() != 0) {
      throw new IOException("dd failed: " + output);
    }
  }

  private static void deleteTree(Path root) throws IOException {
    Files.walkFileTree(
        root,
        new SimpleFileVisitor<>() {
          @Override
          public FileVisitResult visitFile(Path file, BasicFileAttributes attrs)
              throws IOException {
            Files.delete(file);
            return FileVisitResult.CONTINUE;
          }

          @Override
          public FileVisitResult postVisitDirectory(Path dir, IOException e) throws IOException {
            Files.delete(dir);
            return FileVisitResult.CONTINUE;
          }
        });
  }
}
