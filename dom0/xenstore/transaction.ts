// Transactions by generation, as C xenstored does them: a transaction reads through to the
// committed tree and keeps its own changes in an overlay. The first time it touches a path it
// records that path's generation in the committed tree (or that it was absent). Commit succeeds
// only if every recorded path is still at that generation; otherwise EAGAIN and nothing is
// applied. Apply is a loop of puts and deletes on the committed tree with no failure point, so
// a commit is all-or-nothing.
import { XenstoreError } from './errors.ts';
import type { NodeStore, NodeView, XsNode } from './store.ts';
import { ownerOf } from './store.ts';

/** A change a watch may be told about. */
export interface XsChange {
  readonly path: string;
  /** A removal of the whole subtree at `path`: watches below it fire too. */
  readonly recursive: boolean;
  /** The ACL that decides who may hear of it (the node's, or the removed node's). */
  readonly perms: XsNode['perms'];
}

const ABSENT = -1;

export class XsTransaction implements NodeView {
  /** Committed generation of each touched path when first touched; ABSENT if it did not exist. */
  private readonly touched = new Map<string, number>();
  /** Our changes: a node, or null for deleted. */
  private readonly overlay = new Map<string, XsNode | null>();
  private readonly ownedDelta = new Map<number, number>();
  /** Changes to announce if and when we commit. */
  readonly changes: XsChange[] = [];

  constructor(
    readonly id: number,
    private readonly committed: NodeStore,
    /** Largest number of distinct paths this transaction may touch (0 = unlimited). */
    private readonly maxTouched: number,
  ) {}

  get(path: string): XsNode | undefined {
    this.touch(path);
    const mine = this.overlay.get(path);
    if (mine !== undefined) return mine ?? undefined;
    return this.committed.get(path);
  }

  put(path: string, node: XsNode): void {
    const old = this.get(path);
    if (old) this.count(ownerOf(old), -1);
    this.count(ownerOf(node), +1);
    this.overlay.set(path, { ...node, generation: 0 });
  }

  delete(path: string): void {
    const old = this.get(path);
    if (!old) return;
    this.count(ownerOf(old), -1);
    this.overlay.set(path, null);
  }

  ownedBy(domid: number): number {
    return this.committed.ownedBy(domid) + (this.ownedDelta.get(domid) ?? 0);
  }

  /** Nodes this transaction adds to (or, negative, removes from) `domid`'s count. */
  growthOf(domid: number): number {
    return this.ownedDelta.get(domid) ?? 0;
  }

  /** True when a path we touched changed in the committed tree since. */
  conflicts(): boolean {
    for (const [path, gen] of this.touched) {
      if ((this.committed.get(path)?.generation ?? ABSENT) !== gen) return true;
    }
    return false;
  }

  /** Applies our changes to the committed tree. The caller checked conflicts() first. */
  apply(): void {
    // The overlay holds one final state per path, so the order of application is irrelevant.
    for (const [path, node] of this.overlay) {
      if (node === null) this.committed.delete(path);
      else this.committed.put(path, node);
    }
  }

  private touch(path: string): void {
    if (this.touched.has(path)) return;
    if (this.maxTouched !== 0 && this.touched.size >= this.maxTouched) {
      throw new XenstoreError('ENOSPC', `transaction ${this.id} touched more than ${this.maxTouched} nodes`);
    }
    this.touched.set(path, this.committed.get(path)?.generation ?? ABSENT);
  }

  private count(domid: number, delta: number): void {
    this.ownedDelta.set(domid, (this.ownedDelta.get(domid) ?? 0) + delta);
  }
}
