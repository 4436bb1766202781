/**
 * The {@code cbtfs} command line: one picocli class per command, the control socket between a
 * running mount and the commands that talk to it, and the mapping of failures to exit codes (0 ok,
 * 1 runtime failure, 2 usage error) and one-line messages.
 */
package io.cbtfs.cli;
