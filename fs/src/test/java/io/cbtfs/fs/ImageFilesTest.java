package io.cbtfs.fs;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ImageFilesTest {
  @TempDir Path dir;

  private ImageFiles files() {
    return new ImageFiles(dir, dir.resolve(".cbtfs"));
  }

  private void assertNoImage(ImageFiles files, String fusePath) {
    assertThatThrownBy(() -> files.imageName(fusePath))
        .as(fusePath)
        .isInstanceOfSatisfying(
            ErrnoException.class, e -> assertThat(e.errno()).isEqualTo(Posix.ENOENT));
  }

  @Test
  void anImageIsTheNameAfterTheRootSlash() throws Exception {
    assertThat(files().imageName("/disk.img")).isEqualTo("disk.img");
    assertThat(files().imageName("/.disk.img")).isEqualTo(".disk.img");
    assertThat(files().backingFile("disk.img")).isEqualTo(dir.toAbsolutePath().resolve("disk.img"));
  }

  @Test
  void nestedRelativeAndEmptyPathsNameNoImage() {
    ImageFiles files = files();
    for (String path : new String[] {"/a/b.img", "//b.img", "/a/", "disk.img", "", "/"}) {
      assertNoImage(files, path);
    }
  }

  @Test
  void dotAndDotDotNameNoImage() {
    assertNoImage(files(), "/.");
    assertNoImage(files(), "/..");
    assertNoImage(files(), "/../etc/passwd");
  }

  @Test
  void theStateFolderIsHiddenOnlyWhereItLies() throws Exception {
    assertNoImage(files(), "/.cbtfs");
    ImageFiles elsewhere = new ImageFiles(dir, dir.resolveSibling("state").resolve(".cbtfs"));
    assertThat(elsewhere.imageName("/.cbtfs")).isEqualTo(".cbtfs");
  }

  @Test
  void aReplicasSidecarsAreHiddenButLookalikesAreImages() throws Exception {
    ImageFiles files = files();
    for (String suffix : new String[] {"meta", "staging", "new", "apply", "lock", "sync"}) {
      assertNoImage(files, "/.x.img.cbtfs-" + suffix);
      assertNoImage(files, "/.x.img.cbtfs-" + suffix + ".tmp");
    }
    assertThat(files.imageName("/x.img.cbtfs-meta")).isEqualTo("x.img.cbtfs-meta");
    assertThat(files.imageName("/.x.img.cbtfs-other")).isEqualTo(".x.img.cbtfs-other");
    assertThat(files.imageName("/.cbtfs-meta")).isEqualTo(".cbtfs-meta");
  }

  @Test
  void aNameOf255BytesIsAnImage() throws Exception {
    String ascii = "a".repeat(255);
    String multibyte = "é".repeat(127) + "b"; // 2 bytes each in UTF-8
    assertThat(multibyte.getBytes(StandardCharsets.UTF_8)).hasSize(255);
    ImageFiles files = files();
    assertThat(files.imageName("/" + ascii)).isEqualTo(ascii);
    assertThat(files.imageName("/" + multibyte)).isEqualTo(multibyte);
    Files.createFile(files.backingFile(ascii));
    Files.createFile(files.backingFile(multibyte));
    assertThat(files.list()).containsExactlyInAnyOrder(ascii, multibyte);
    assertThat(files.existingImage(multibyte)).exists();
  }

  @Test
  void aNameTheJvmCannotDecodeIsNotListedUnderAnotherName() throws Exception {
    // bad\377.img: not valid UTF-8, so it decodes to "bad\uFFFD.img", whose bytes name another
    // file; served under that name it would read, and a create through it would write, that one
    Process touch =
        new ProcessBuilder("sh", "-c", ": > \"$(printf 'bad\\377.img')\"")
            .directory(dir.toFile())
            .inheritIO()
            .start();
    assertThat(touch.waitFor()).isZero();
    Files.createFile(dir.resolve("good.img"));
    assertThat(files().list()).containsExactly("good.img");
  }

  @Test
  void listShowsRegularFilesOnly() throws Exception {
    Files.createDirectory(dir.resolve(".cbtfs"));
    Files.createDirectory(dir.resolve("sub"));
    Files.createFile(dir.resolve("b.img"));
    Files.createFile(dir.resolve("a.img"));
    Files.createFile(dir.resolve(".a.img.cbtfs-meta"));
    Files.createSymbolicLink(dir.resolve("link.img"), dir.resolve("a.img"));
    assertThat(files().list()).containsExactly("a.img", "b.img");
    assertThatThrownBy(() -> files().existingImage("link.img"))
        .isInstanceOf(ErrnoException.class)
        .hasMessageContaining("link.img");
  }
}
