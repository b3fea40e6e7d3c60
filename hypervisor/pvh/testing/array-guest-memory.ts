// Kept only as a re-export for test/shim-engine.test.ts (owned by the shim work): the one in-memory
// GuestMemory is hypervisor/memory/testing/array-guest-memory.ts. Delete this file once that
// import points there.
export { ArrayGuestMemory } from '../../memory/testing/array-guest-memory.ts';
