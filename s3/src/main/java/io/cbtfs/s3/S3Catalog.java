package io.cbtfs.s3;

import io.cbtfs.syncer.target.Restorable;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import software.amazon.awssdk.services.s3.model.S3Object;

/** What a store holds: its images, their generations, its chunks ({@code cbtfs ls}). */
public final class S3Catalog {
  /** One image of a store. */
  public record Image(String name, List<Restorable.Generation> generations) {}

  /**
   * The store's totals.
   *
   * @param chunkBytes the bytes every chunk object takes (what the store costs)
   */
  public record Totals(long chunks, long chunkBytes, long manifests, long manifestBytes) {}

  private final S3Location store;

  /** {@code uri} names a store, {@code s3://BUCKET/[STORE]}. */
  public S3Catalog(String uri) {
    this.store = S3Location.parse(uri, false);
  }

  public String describe() {
    return store.describe();
  }

  public List<Image> images() throws IOException {
    List<Image> out = new ArrayList<>();
    try (S3Store s = new S3Store(store)) { // one client for every image
      for (String name : s.children(store.imagesPrefix())) {
        out.add(new Image(name, new S3Target(store.withImage(name)).generations(s)));
      }
    }
    return out;
  }

  public Totals totals() throws IOException {
    try (S3Store s = new S3Store(store)) {
      long chunks = 0;
      long chunkBytes = 0;
      for (S3Object o : s.list(store.chunksPrefix())) {
        if (!store.isChunkKey(o.key())) {
          continue;
        }
        chunks++;
        chunkBytes += o.size();
      }
      long manifests = 0;
      long manifestBytes = 0;
      for (S3Object o : s.list(store.imagesPrefix())) {
        if (store.manifestImage(o.key()) != null) {
          manifests++;
          manifestBytes += o.size();
        }
      }
      return new Totals(chunks, chunkBytes, manifests, manifestBytes);
    }
  }
}
