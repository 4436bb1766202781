/**
 * The lifecycle of one mount: check the mount point, start the FUSE loop on its own thread, wait
 * until the kernel connection is up, and on close unmount, join the loop, close the backing files
 * and persist the tracking as clean. Never unmount from a FUSE callback thread: it would deadlock
 * waiting for itself.
 */
package io.cbtfs.fs.mount;
