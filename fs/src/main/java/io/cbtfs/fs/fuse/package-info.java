/**
 * The only code that sees jnr-fuse types. Each callback unwraps its arguments, calls one method of
 * {@link io.cbtfs.fs.ImageFileSystem}, and turns any exception into an errno through {@link
 * io.cbtfs.fs.FuseGuard}: an exception escaping a jnr-fuse callback would be swallowed by the
 * native layer and the caller would see garbage.
 */
package io.cbtfs.fs.fuse;
