// The tree of nodes, stored flat by absolute path. Nodes are immutable values; a change puts a
// new node. The committed tree (NodeStore) stamps every put with a fresh generation number,
// which is what transactions compare at commit and what DIRECTORY_PART reports. It also keeps
// how many nodes each domain owns, exactly, as puts and deletes happen, so node quotas are a
// lookup.
import type { XsPerm } from './perms.ts';

export interface XsNode {
  readonly value: Uint8Array;
  readonly perms: readonly XsPerm[];
  /** Child names in creation order. */
  readonly children: readonly string[];
  /** Generation of the last change; 0 inside a transaction until committed. */
  readonly generation: number;
}

/** Read/write access to a tree: the committed one, or a transaction's view of it. */
export interface NodeView {
  get(path: string): XsNode | undefined;
  put(path: string, node: XsNode): void;
  delete(path: string): void;
  /** Nodes `domid` owns as this view sees them. */
  ownedBy(domid: number): number;
}

/** Bytes of a node for the nodeSize quota: value plus nul-terminated child names. */
export function nodeSize(node: Pick<XsNode, 'value' | 'children'>): number {
  let n = node.value.byteLength;
  for (const c of node.children) n += c.length + 1;
  return n;
}

export function ownerOf(node: XsNode): number {
  return node.perms[0]?.domid ?? 0;
}

export class NodeStore implements NodeView {
  private readonly nodes = new Map<string, XsNode>();
  private readonly owned = new Map<number, number>();
  private generation = 0;

  constructor(rootPerms: readonly XsPerm[]) {
    this.put('/', { value: new Uint8Array(0), perms: rootPerms, children: [], generation: 0 });
  }

  get size(): number {
    return this.nodes.size;
  }

  get(path: string): XsNode | undefined {
    return this.nodes.get(path);
  }

  put(path: string, node: XsNode): void {
    const old = this.nodes.get(path);
    if (old) this.count(ownerOf(old), -1);
    this.count(ownerOf(node), +1);
    this.nodes.set(path, { ...node, generation: ++this.generation });
  }

  delete(path: string): void {
    const old = this.nodes.get(path);
    if (!old) return;
    this.count(ownerOf(old), -1);
    this.nodes.delete(path);
  }

  ownedBy(domid: number): number {
    return this.owned.get(domid) ?? 0;
  }

  paths(): IterableIterator<string> {
    return this.nodes.keys();
  }

  private count(domid: number, delta: number): void {
    const n = (this.owned.get(domid) ?? 0) + delta;
    if (n === 0) this.owned.delete(domid);
    else this.owned.set(domid, n);
  }

  /**
   * Checks the invariants a walk from the root must see: every child listed exists with that
   * parent, every node but the root is listed by its parent, ownership counts match. Returns
   * the problems found (empty when consistent); used by CONTROL check and by tests.
   */
  check(): string[] {
    const problems: string[] = [];
    const seen = new Set<string>();
    const owned = new Map<number, number>();
    const stack = ['/'];
    while (stack.length > 0) {
      const p = stack.pop()!;
      const node = this.nodes.get(p);
      if (!node) {
        problems.push(`${p} is listed by its parent but missing`);
        continue;
      }
      if (seen.has(p)) {
        problems.push(`${p} reached twice`);
        continue;
      }
      seen.add(p);
      owned.set(ownerOf(node), (owned.get(ownerOf(node)) ?? 0) + 1);
      for (const c of node.children) stack.push(p === '/' ? `/${c}` : `${p}/${c}`);
    }
    for (const p of this.nodes.keys()) if (!seen.has(p)) problems.push(`${p} is not reachable from /`);
    for (const [d, n] of owned) if (this.ownedBy(d) !== n) problems.push(`domain ${d} owns ${n} nodes, counted ${this.ownedBy(d)}`);
    for (const [d, n] of this.owned) if ((owned.get(d) ?? 0) !== n) problems.push(`domain ${d} counted ${n}, owns ${owned.get(d) ?? 0}`);
    return problems;
  }
}
