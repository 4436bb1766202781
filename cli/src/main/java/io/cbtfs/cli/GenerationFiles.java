package io.cbtfs.cli;

import io.cbtfs.fs.ServedFile;
import io.cbtfs.fs.ServedFiles;
import io.cbtfs.fs.overlay.OverlayFile;
import io.cbtfs.syncer.PieceCache;
import io.cbtfs.syncer.StoredImage;
import io.cbtfs.syncer.local.Restorable;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.UUID;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The generations of stored images as read-only files: {@code NAME@N} is generation N of image
 * NAME, {@code NAME} its newest. A generation is indexed when its file is first read, and then read
 * in place through one shared {@link PieceCache}. With {@link #overlayIn} each is writable, through
 * an {@link OverlayFile} of its own ({@code DIR/NAME@N.img}, {@code DIR/NAME@N.present}).
 */
final class GenerationFiles implements ServedFiles, AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(GenerationFiles.class);

  /** An overlay's block: the default tracking block, so a written block is a changed block. */
  static final int OVERLAY_BLOCK_BYTES = 64 << 10;

  /** One stored image: its name in the mount, where it is stored, and its generations. */
  record Source(String name, Restorable store, List<Restorable.Generation> generations) {}

  private final TreeMap<String, ServedFile> files = new TreeMap<>();
  private final List<Generation> generations = new ArrayList<>();
  private final List<OverlayFile> overlays = new ArrayList<>();
  private final List<Source> sources;
  private final PieceCache cache;
  private boolean closed;

  GenerationFiles(List<Source> sources, PieceCache cache) {
    this.sources = sources;
    this.cache = cache;
    for (Source s : sources) {
      for (Restorable.Generation g : s.generations()) {
        Generation generation = new Generation(s, g);
        generations.add(generation);
        files.put(s.name() + "@" + g.generation(), generation);
      }
    }
    // NAME@N is unique (N is all digits), a NAME alias is not: image "vm@2" must not take the
    // name of generation 2 of image "vm", so the generations go first and an alias only where free
    for (Source s : sources) {
      if (!s.generations().isEmpty()) {
        long newest = s.generations().get(s.generations().size() - 1).generation();
        if (files.putIfAbsent(s.name(), files.get(s.name() + "@" + newest)) != null) {
          log.warn(
              "{}: newest generation served as {}@{} only (a generation has its name)",
              s.name(),
              s.name(),
              newest);
        }
      }
    }
  }

  @Override
  public List<String> names() {
    return new ArrayList<>(files.keySet());
  }

  @Override
  public ServedFile file(String name) {
    return files.get(name);
  }

  /** How many files are served. */
  int count() {
    return files.size();
  }

  /**
   * Makes every generation writable through an overlay in {@code dir}: {@code NAME@N.img} and
   * {@code NAME@N.present}, made at its first write, or opened now if an earlier mount made them
   * (and refused if they were made over another generation of that name). The newest's {@code NAME}
   * is the same overlay as its {@code NAME@N}.
   */
  void overlayIn(Path dir) throws IOException {
    Map<ServedFile, OverlayFile> made = new IdentityHashMap<>();
    Map<Source, UUID> lineages = new IdentityHashMap<>();
    for (Generation g : generations) {
      UUID lineage = lineages.get(g.source);
      if (lineage == null) {
        lineage = g.source.store().state().lineage();
        lineages.put(g.source, lineage);
      }
      String name = g.source.name() + "@" + g.generation.generation();
      OverlayFile o =
          OverlayFile.over(
              g,
              dir,
              name,
              OVERLAY_BLOCK_BYTES,
              new OverlayBase(lineage, g.generation.generation()).toString());
      overlays.add(o);
      made.put(g, o);
    }
    files.replaceAll((name, file) -> made.get(file));
  }

  /**
   * Forces and closes the overlays, then frees the generations and closes the stores. Idempotent.
   */
  @Override
  public synchronized void close() throws IOException {
    if (closed) {
      return;
    }
    closed = true;
    IOException first = null;
    for (OverlayFile o : overlays) {
      try {
        long present = o.presentBlocks();
        o.close();
        if (present > 0) {
          log.info(
              "overlay {}: {} of {} blocks of {} bytes written or copied",
              o.imageFile(),
              present,
              o.blockCount(),
              o.blockSize());
        }
      } catch (IOException e) {
        log.error("overlay {} not closed cleanly: {}", o.imageFile(), e.getMessage());
        first = first == null ? e : first;
      }
    }
    for (Generation g : generations) {
      try {
        g.close();
      } catch (IOException e) {
        first = first == null ? e : first;
      }
    }
    for (Source s : sources) {
      s.store().close();
    }
    if (first != null) {
      throw first;
    }
  }

  /** One generation: indexed on first use. */
  private final class Generation implements ServedFile {
    private final Source source;
    private final Restorable store;
    private final Restorable.Generation generation;
    private volatile StoredImage image;

    Generation(Source source, Restorable.Generation generation) {
      this.source = source;
      this.store = source.store();
      this.generation = generation;
    }

    private StoredImage image() throws IOException {
      StoredImage i = image;
      if (i == null) {
        synchronized (this) {
          if (image == null) {
            image = store.open(generation.generation(), cache);
          }
          i = image;
        }
      }
      return i;
    }

    @Override
    public long byteSize() {
      return generation.imageSize();
    }

    @Override
    public long modifiedSeconds() {
      return generation.created() == null ? 0 : generation.created().getEpochSecond();
    }

    @Override
    public void read(long byteOffset, byte[] into, int byteLength) throws IOException {
      image().read(byteOffset, into, byteLength);
    }

    @Override
    public long next(long byteOffset, boolean hole) throws IOException {
      return image().next(byteOffset, hole);
    }

    synchronized void close() throws IOException {
      if (image != null) {
        image.close();
        image = null;
      }
    }
  }
}
