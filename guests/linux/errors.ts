// Failures of the default Linux guest's build and boot. Failures of the pieces it reuses from
// the lab (fetching the kernel package, a missing host tool) arrive as the lab's own LabError
// subclasses, which already name the Debian package to install.

export class LinuxGuestError extends Error {
  override readonly name: string = 'LinuxGuestError';
}

/** A build input is unusable (busybox not static, a module missing from the kernel package). */
export class LinuxGuestBuildError extends LinuxGuestError {
  override readonly name = 'LinuxGuestBuildError';
}
