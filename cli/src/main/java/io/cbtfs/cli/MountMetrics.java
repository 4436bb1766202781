package io.cbtfs.cli;

import io.cbtfs.fs.RequestObserver;
import io.cbtfs.tracker.TrackedImage;
import io.cbtfs.tracker.TrackerStore;
import io.prometheus.metrics.exporter.httpserver.HTTPServer;
import io.prometheus.metrics.instrumentation.jvm.JvmMetrics;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.time.Clock;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.Supplier;
import org.slf4j.LoggerFactory;

/**
 * A mount's {@code /metrics} ({@code cbtfs mount --metrics}): the images and their targets (read at
 * scrape time), its syncs, its FUSE request latency and the JVM's own metrics, served by the
 * Prometheus client's HTTP server on one worker thread (and the JDK server's dispatcher): scrapes
 * are rare and small, and the mount's memory budget has no room for a pool.
 *
 * <p>The server is bound before the mount exists, so a port in use fails the start before anything
 * is mounted; the images appear once {@link #serveImages} hands it the mount's tracking.
 */
final class MountMetrics implements AutoCloseable {
  private final RequestLatency requests;
  private final SyncMetrics syncs;
  private final HTTPServer server;
  private volatile Supplier<List<TrackedImage>> images = List::of;

  private MountMetrics(PrometheusRegistry registry, HTTPServer server) {
    this.server = server;
    this.requests = new RequestLatency(registry);
    this.syncs = new SyncMetrics(registry);
  }

  /**
   * Binds {@code address} and serves {@code /metrics} from now on.
   *
   * @throws IOException if the address cannot be bound (in use, not this host's)
   */
  static MountMetrics start(MetricsAddress address, Clock clock) throws IOException {
    InetSocketAddress bind = address.socketAddress();
    if (bind.isUnresolved()) { // never the wildcard address an unresolved one would bind
      throw new IOException("cannot serve metrics on " + address + ": unknown host");
    }
    PrometheusRegistry registry = new PrometheusRegistry();
    ExecutorService worker =
        Executors.newSingleThreadExecutor(
            r -> {
              Thread t = new Thread(r, "cbtfs-metrics");
              t.setDaemon(true);
              return t;
            });
    HTTPServer server;
    try {
      server =
          HTTPServer.builder()
              .inetAddress(bind.getAddress())
              .port(address.port())
              .registry(registry)
              .executorService(worker)
              .buildAndStart();
    } catch (IOException | RuntimeException e) {
      worker.shutdownNow();
      throw new IOException("cannot serve metrics on " + address + ": " + e.getMessage(), e);
    }
    LoggerFactory.getLogger(MountMetrics.class)
        .info("serving metrics on http://{}/metrics", address);
    MountMetrics metrics = new MountMetrics(registry, server);
    JvmMetrics.builder().register(registry);
    registry.register(new ImageMetrics(() -> metrics.images.get()));
    registry.register(new TargetMetrics(() -> metrics.images.get(), clock));
    return metrics;
  }

  /** From now on a scrape lists the images {@code store} has loaded. */
  void serveImages(TrackerStore store) {
    images = store::images;
  }

  /** The FUSE request latency histogram, for the mount's transports. */
  RequestObserver requests() {
    return requests;
  }

  /** Counts the syncs the mount runs. */
  SyncObserver syncs() {
    return syncs;
  }

  @Override
  public void close() {
    server.close(); // stops the server and its worker
  }
}
