package io.cbtfs.s3;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class S3LocationTest {
  @Test
  void theLastSegmentIsTheImageAndTheRestTheStore() {
    S3Location l =
        S3Location.parse("s3://backups/fleet/eu/vm1?endpoint=http://127.0.0.1:9000", true);
    assertThat(l.bucket()).isEqualTo("backups");
    assertThat(l.store()).isEqualTo("fleet/eu/");
    assertThat(l.image()).isEqualTo("vm1");
    assertThat(l.pathStyle()).isTrue();
    assertThat(l.manifestKey("vm1", 3))
        .isEqualTo("fleet/eu/images/vm1/gen-00000000000000000003.manifest");
    assertThat(l.manifestGeneration("vm1", l.manifestKey("vm1", 3))).isEqualTo(3);
    assertThat(l.manifestImage(l.manifestKey("vm1", 3))).isEqualTo("vm1");
    // keys of another shape (a directory marker, something nested) are nobody's
    assertThat(
            l.manifestGeneration("vm1", "fleet/eu/images/vm1/x/gen-00000000000000000003.manifest"))
        .isEqualTo(-1);
    assertThat(l.manifestImage("fleet/eu/images/vm1/")).isNull();
    String hex = "ab" + "0".repeat(62);
    assertThat(l.chunkKey(hex)).isEqualTo("fleet/eu/chunks/ab/" + hex);
    assertThat(l.isChunkKey(l.chunkKey(hex))).isTrue();
    assertThat(l.isChunkKey("fleet/eu/chunks/ab/")).isFalse();
    assertThat(l.isChunkKey("fleet/eu/chunks/cd/" + hex)).isFalse();
    assertThat(S3Location.parse(l.toUri(), true)).isEqualTo(l);

    S3Location root = S3Location.parse("s3://backups/vm1", true);
    assertThat(root.store()).isEmpty();
    assertThat(root.pathStyle()).isFalse(); // AWS: virtual-hosted style
    assertThat(S3Location.parse("s3://backups/fleet/", false).store()).isEqualTo("fleet/");
    assertThat(S3Location.parse("s3://backups", false).store()).isEmpty();
  }

  @Test
  void badInputIsNamed() {
    assertThatThrownBy(() -> S3Location.parse("s3://backups", true))
        .hasMessageContaining("no image");
    assertThatThrownBy(() -> S3Location.parse("s3://Bad_Bucket/vm1", true))
        .hasMessageContaining("bucket");
    assertThatThrownBy(() -> S3Location.parse("s3://backups/../vm1", true))
        .hasMessageContaining("'..'");
    assertThatThrownBy(() -> S3Location.parse("s3://backups/a//vm1", true))
        .hasMessageContaining("bad name");
    assertThatThrownBy(() -> S3Location.parse("s3://backups/images/vm1", true))
        .hasMessageContaining("reserved");
    assertThatThrownBy(() -> S3Location.parse("s3://backups/fleet/chunks", true))
        .hasMessageContaining("reserved");
    assertThatThrownBy(() -> S3Location.parse("s3://backups/vm1?colour=red", true))
        .hasMessageContaining("colour");
    assertThatThrownBy(() -> S3Location.parse("s3://backups/vm1?endpoint=nohost", true))
        .hasMessageContaining("endpoint");
  }
}
