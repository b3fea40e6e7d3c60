// One Error subclass per way the KVM lab can fail, so callers (the CLI, test suites) can tell
// "this host cannot have a lab" (skip, install something) from "the lab broke" (a bug, report it)
// from "the command ran out of time" (a test result).

/** Base class: every lab failure is a LabError, so `catch (e) { if (e instanceof LabError) }` works. */
export class LabError extends Error {
  override readonly name: string = 'LabError';
}

/** qemu-system-x86_64 is not on PATH: the host lacks the Debian package that provides it. */
export class LabQemuMissingError extends LabError {
  override readonly name = 'LabQemuMissingError';
  constructor(readonly binary: string) {
    super(
      `${binary} not found on PATH: install the Debian package qemu-system-x86 ` +
        `(scripts/setup.sh installs it with the project's other packages)`,
    );
  }
}

/** A host tool the image build shells out to is missing (apt-get, dpkg-deb, xz, cpio, busybox). */
export class LabToolMissingError extends LabError {
  override readonly name = 'LabToolMissingError';
  constructor(
    readonly tool: string,
    readonly debianPackage: string,
  ) {
    super(`${tool} not found: install the Debian package ${debianPackage} (scripts/setup.sh does)`);
  }
}

/** Building the lab image (kernel fetch, vmlinux extraction, module set, initramfs) failed. */
export class LabImageError extends LabError {
  override readonly name = 'LabImageError';
}

/** The lab's qemu command line or the per-run job could not be made from the caller's request. */
export class LabRequestError extends LabError {
  override readonly name = 'LabRequestError';
}

/**
 * The VM stopped before the command's exit status came back: QEMU refused to start, the lab's
 * init failed (a module did not load, a mount failed), the guest kernel panicked, or QEMU was
 * killed from outside. `detail` carries the last lines of the guest console and of QEMU's stderr.
 */
export class LabVmDiedError extends LabError {
  override readonly name = 'LabVmDiedError';
  constructor(
    reason: string,
    readonly detail: string,
  ) {
    super(detail ? `${reason}\n${detail}` : reason);
  }
}

/** The command did not finish within the caller's time limit; the VM was killed. */
export class LabTimeoutError extends LabError {
  override readonly name = 'LabTimeoutError';
  constructor(readonly timeoutMs: number) {
    super(`the lab command did not finish within ${timeoutMs / 1000} s; the VM was killed`);
  }
}

/** The caller aborted the run (^C in the CLI, an AbortSignal from code); the VM was killed. */
export class LabAbortedError extends LabError {
  override readonly name = 'LabAbortedError';
  constructor(readonly reason: string) {
    super(`the lab run was aborted (${reason}); no lab VM is left running`);
  }
}
