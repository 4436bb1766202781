/**
 * The {@code cbtfs} command line: one picocli class per command (options shared as mixins), the
 * control socket between a running mount and the commands that talk to it, and the mapping of
 * failures to exit codes (0 ok, 1 runtime failure, 2 usage error) and one-line messages.
 *
 * <p>The control socket: {@link io.cbtfs.cli.ControlClient} sends a typed {@link
 * io.cbtfs.cli.ControlRequest}, {@link io.cbtfs.cli.ControlProtocol} is its one codec, and {@link
 * io.cbtfs.cli.ControlServer} runs it on the mount's {@link io.cbtfs.cli.MountService}. A sync is
 * split the same way: {@link io.cbtfs.cli.SyncClient} asks, {@link io.cbtfs.cli.SyncHost} syncs
 * where the tracking is held; its target travels as a {@link io.cbtfs.cli.TargetAddress}.
 */
package io.cbtfs.cli;
