package io.cbtfs.nbd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** {@code --nbd}: a Unix socket, or TCP on loopback unless told otherwise. */
class NbdAddressTest {
  @Test
  void aUnixSocketIsMadeAbsolute() {
    NbdAddress a = NbdAddress.parse("unix:nbd.sock");
    assertThat(a.isUnix()).isTrue();
    assertThat(a.socketPath()).isEqualTo(Path.of("nbd.sock").toAbsolutePath());
    assertThat(NbdAddress.parse("unix:/run/x.sock").uri("vm 1.img"))
        .isEqualTo("nbd+unix:///vm 1.img?socket=/run/x.sock");
  }

  @Test
  void aPortAloneIsLoopback() {
    assertThat(NbdAddress.parse("10809")).isEqualTo(new NbdAddress(null, "127.0.0.1", 10809));
    assertThat(NbdAddress.parse("[::1]:10809").toString()).isEqualTo("[::1]:10809");
    assertThat(NbdAddress.parse("0.0.0.0:10809").uri("a.img"))
        .isEqualTo("nbd://0.0.0.0:10809/a.img");
  }

  @Test
  void badValuesAreRefused() {
    for (String bad : new String[] {"", "unix:", "x", "0", "65536", ":1", "::1:80", "host:"}) {
      assertThatThrownBy(() -> NbdAddress.parse(bad))
          .as(bad)
          .isInstanceOf(IllegalArgumentException.class);
    }
  }
}
