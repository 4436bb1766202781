package io.cbtfs.cli;

import io.cbtfs.fs.mount.FuseTransport;
import io.cbtfs.fs.mount.ReadOnlyMount;
import io.cbtfs.fs.overlay.OverlayFile;
import io.cbtfs.s3.S3Catalog;
import io.cbtfs.syncer.PieceCache;
import io.cbtfs.syncer.StoredImage;
import io.cbtfs.syncer.Target;
import io.cbtfs.syncer.local.ArchiveTarget;
import io.cbtfs.syncer.local.Restorable;
import io.cbtfs.syncer.remote.RemoteArchive;
import io.cbtfs.tracker.CbtfsException;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code cbtfs mount --read-only SOURCE MOUNTPOINT}: every generation of a backup as a read-only
 * file, read in place. SOURCE is {@code archive:DIR} (one image), {@code s3://BUCKET/STORE/IMAGE}
 * (one image), {@code s3://BUCKET/STORE} (every image of the store) or {@code
 * cbtfs://HOST:PORT/NAME?archive} (a receiver's archive: one image).
 */
final class GenerationMount {
  private static final Logger log = LoggerFactory.getLogger(GenerationMount.class);

  private final String source;
  private final Path mountPoint;
  private final FuseTransport transport;
  private final boolean allowOther;
  private final boolean directIo;
  private final long cacheBytes;
  private final Path overlayDir;
  private final List<String> hydrate;
  private final AtomicBoolean reported = new AtomicBoolean();

  /**
   * @param overlayDir where the overlays of writable generations go ({@code --overlay}), or null:
   *     read-only
   * @param hydrate the files whose overlays are filled in the background ({@code --hydrate})
   */
  GenerationMount(
      String source,
      Path mountPoint,
      FuseTransport transport,
      boolean allowOther,
      boolean directIo,
      long cacheBytes,
      Path overlayDir,
      List<String> hydrate) {
    this.source = source;
    this.mountPoint = mountPoint;
    this.transport = transport;
    this.allowOther = allowOther;
    this.directIo = directIo;
    this.cacheBytes = cacheBytes;
    this.overlayDir = overlayDir;
    this.hydrate = List.copyOf(hydrate);
  }

  /** Mounts, serves until unmounted or stopped (SIGTERM, Ctrl-C), and unmounts. */
  int run(PrintWriter out) throws Exception {
    PieceCache cache = new PieceCache(cacheBytes);
    try (OverlayDirLock lock = overlayDir == null ? null : OverlayDirLock.take(overlayDir);
        GenerationFiles files = new GenerationFiles(sources(), cache)) {
      List<OverlayFile> toHydrate = new ArrayList<>();
      if (lock != null) {
        files.overlayIn(lock.dir());
        for (String name : hydrate) {
          if (!(files.file(name) instanceof OverlayFile o)) {
            throw new CbtfsException(
                "--hydrate " + name + ": no such file; the mount serves " + files.names());
          }
          toHydrate.add(o);
        }
      }
      ReadOnlyMount mount =
          ReadOnlyMount.start(
              mountPoint, source, transport, allowOther, directIo, lock != null, files);
      List<Hydration> hydrations = new java.util.concurrent.CopyOnWriteArrayList<>();
      Thread stop =
          new Thread(
              () -> {
                hydrations.forEach(Hydration::stop);
                closeQuietly(mount);
                closeQuietly(files); // the overlays forced before the JVM goes
                report(cache);
              },
              "cbtfs-shutdown");
      Runtime.getRuntime().addShutdownHook(stop);
      out.printf(
          "cbtfs: serving %d generation file(s) of %s %s on %s (FUSE transport: %s)%n"
              + "stop with Ctrl-C or: umount %s%n",
          files.count(),
          source,
          lock == null ? "read-only" : "writable, with an overlay in " + lock.dir(),
          mount.mountPoint(),
          mount.transport().label(),
          mount.mountPoint());
      out.flush();
      for (int i = 0; i < toHydrate.size(); i++) {
        hydrations.add(new Hydration(hydrate.get(i), toHydrate.get(i), out).start());
      }
      mount.awaitUnmounted();
      hydrations.forEach(Hydration::stop);
      mount.close();
      report(cache);
      try {
        Runtime.getRuntime().removeShutdownHook(stop);
      } catch (IllegalStateException shuttingDown) {
        // the hook runs already
      }
    }
    return CbtfsCommand.EXIT_OK;
  }

  /** Once, after the unmount: what the cache held at most, and how often it served a read. */
  private void report(PieceCache cache) {
    if (reported.compareAndSet(false, true)) {
      log.info(
          "read cache: peak {} bytes of its limit {}, {} hits, {} misses",
          cache.peakBytes(),
          cache.limitBytes(),
          cache.hits(),
          cache.misses());
    }
  }

  private static void closeQuietly(AutoCloseable closeable) {
    try {
      closeable.close();
    } catch (Exception e) {
      System.err.println("cbtfs: " + Errors.describe(e));
    }
  }

  /** The images SOURCE names, each with its generations. */
  private List<GenerationFiles.Source> sources() throws IOException {
    List<GenerationFiles.Source> out = new ArrayList<>();
    if (source.startsWith("s3://")) {
      Target t = TargetAddress.parse(source).open();
      Restorable image = (Restorable) t;
      List<Restorable.Generation> gens = image.generations();
      if (!gens.isEmpty()) {
        out.add(source(imageName(source), image, gens));
        return out;
      }
      image.close();
      try (S3Catalog store = new S3Catalog(source)) { // no such image: a store, then
        for (S3Catalog.Image i : store.images()) {
          if (!i.generations().isEmpty()) {
            out.add(source(i.name(), store.image(i.name()), i.generations()));
          }
        }
      }
    } else if (RemoteArchive.isRemote(source)) {
      RemoteArchive archive = RemoteArchive.open(source); // refuses a replica: ?archive only
      try {
        out.add(source(archive.name(), archive, archive.generations()));
      } catch (IOException | RuntimeException e) {
        archive.close();
        throw e;
      }
    } else {
      Target t = TargetAddress.parse(source).open();
      if (!(t instanceof ArchiveTarget archive)) {
        t.close();
        throw new IllegalArgumentException(
            "mount --read-only serves archive:DIR, s3://BUCKET/STORE[/IMAGE] or "
                + "cbtfs://HOST:PORT/NAME?archive, not "
                + source);
      }
      // the folder, without a folded-in ?encrypt-key=FILE (else the key file would name it)
      Path dir = Path.of(source.substring("archive:".length()).replaceFirst("\\?.*$", ""));
      String name = dir.getFileName() == null ? "image" : dir.getFileName().toString();
      out.add(source(name.replaceFirst("\\.archive$", ""), archive, archive.generations()));
    }
    if (out.isEmpty() || out.stream().allMatch(s -> s.generations().isEmpty())) {
      throw new CbtfsException(source + " holds no generation");
    }
    return out;
  }

  /**
   * A source whose generations all know their size (an object without metadata is read) and open
   * under the key given (an encrypted one is refused now, not at its first read).
   */
  private static GenerationFiles.Source source(
      String name, Restorable store, List<Restorable.Generation> generations) throws IOException {
    List<Restorable.Generation> sized = new ArrayList<>();
    for (Restorable.Generation g : generations) {
      store.requireKeyFor(g.generation()); // no key, or the wrong one: refused before mounting
      if (g.imageSize() < 0) {
        try (StoredImage i = store.open(g.generation(), new PieceCache(0))) {
          g = new Restorable.Generation(g.generation(), g.full(), i.imageSize(), g.created(), -1);
        }
      }
      sized.add(g);
    }
    return new GenerationFiles.Source(name, store, sized);
  }

  private static String imageName(String uri) {
    String path = uri.replaceFirst("\\?.*$", "").replaceFirst("/+$", "");
    return path.substring(path.lastIndexOf('/') + 1);
  }
}
