// The tree operations (READ, WRITE, MKDIR, RM, DIRECTORY, DIRECTORY_PART, GET_PERMS,
// SET_PERMS), written once against a NodeView so they run the same on the committed tree and
// inside a transaction. Each checks permissions and quotas before its first change, so a
// refused request changes nothing; the walks are loops, never recursion, so a deep tree cannot
// exhaust the stack.
import { XenstoreError } from './errors.ts';
import { ancestorsOf, baseName, childPath, parentOf } from './paths.ts';
import { accessFor, inheritPerms, type XsCaller, type XsPerm } from './perms.ts';
import { withinQuota, type XenstoreQuotas } from './quotas.ts';
import { nodeSize, type NodeView, type XsNode } from './store.ts';
import type { XsChange } from './transaction.ts';

/** What an operation needs: who asks, which tree, the limits, and where changes are announced. */
export interface NodeOpContext {
  readonly caller: XsCaller;
  readonly view: NodeView;
  readonly quotas: XenstoreQuotas;
  announce(change: XsChange): void;
}

const EMPTY = new Uint8Array(0);

function existing(ctx: NodeOpContext, path: string): XsNode {
  const node = ctx.view.get(path);
  if (!node) throw new XenstoreError('ENOENT', `${path} does not exist`);
  return node;
}

function readable(ctx: NodeOpContext, path: string): XsNode {
  const node = existing(ctx, path);
  if (!accessFor(ctx.caller, node.perms).read) throw new XenstoreError('EACCES', `no read access to ${path}`);
  return node;
}

function checkSize(ctx: NodeOpContext, node: Pick<XsNode, 'value' | 'children'>, path: string): void {
  if (ctx.caller.privileged) return;
  if (!withinQuota(nodeSize(node), ctx.quotas.nodeSize)) {
    throw new XenstoreError('ENOSPC', `${path} would be ${nodeSize(node)} bytes, quota ${ctx.quotas.nodeSize}`);
  }
}

export function readNode(ctx: NodeOpContext, path: string): Uint8Array {
  return readable(ctx, path).value;
}

export function directory(ctx: NodeOpContext, path: string): readonly string[] {
  return readable(ctx, path).children;
}

/** The node's generation (for DIRECTORY_PART) with its children. */
export function directoryWithGeneration(ctx: NodeOpContext, path: string): { generation: number; children: readonly string[] } {
  const node = readable(ctx, path);
  return { generation: node.generation, children: node.children };
}

export function getPerms(ctx: NodeOpContext, path: string): readonly XsPerm[] {
  return readable(ctx, path).perms;
}

/** WRITE: sets the value, creating the node and any missing parents. */
export function writeNode(ctx: NodeOpContext, path: string, value: Uint8Array): void {
  const node = ctx.view.get(path);
  if (node) {
    if (!accessFor(ctx.caller, node.perms).write) throw new XenstoreError('EACCES', `no write access to ${path}`);
    const next = { ...node, value };
    checkSize(ctx, next, path);
    ctx.view.put(path, next);
    ctx.announce({ path, recursive: false, perms: next.perms });
    return;
  }
  createNode(ctx, path, value);
}

/** MKDIR: creates the node and missing parents with empty values; an existing node is left alone. */
export function makeDirectory(ctx: NodeOpContext, path: string): void {
  if (ctx.view.get(path)) return;
  createNode(ctx, path, EMPTY);
}

function createNode(ctx: NodeOpContext, path: string, value: Uint8Array): void {
  // Find the nearest existing ancestor: it decides whether we may create below it.
  const missing = [path];
  let anchorPath = '/';
  let anchor: XsNode | undefined;
  for (const a of ancestorsOf(path)) {
    anchor = ctx.view.get(a);
    if (anchor) {
      anchorPath = a;
      break;
    }
    missing.push(a);
  }
  if (!anchor) throw new XenstoreError('EIO', 'the root node is missing');
  if (!accessFor(ctx.caller, anchor.perms).write) throw new XenstoreError('EACCES', `no write access to ${anchorPath}`);
  // Every new node is owned by the caller (unprivileged) or by the anchor's owner (privileged).
  const perms = inheritPerms(anchor.perms, ctx.caller);
  if (!ctx.caller.privileged) {
    const owner = perms[0]?.domid ?? ctx.caller.domid;
    if (!withinQuota(ctx.view.ownedBy(owner) + missing.length, ctx.quotas.nodes)) {
      throw new XenstoreError('ENOSPC', `domain ${owner} would own more than ${ctx.quotas.nodes} nodes`);
    }
    checkSize(ctx, { value, children: [] }, path);
    const grown = { value: anchor.value, children: [...anchor.children, baseName(missing[missing.length - 1]!)] };
    checkSize(ctx, grown, anchorPath);
  }
  // Create top-down: each parent exists before its child is linked into it.
  let parentPath = anchorPath;
  let parent = anchor;
  for (let i = missing.length - 1; i >= 0; i--) {
    const p = missing[i]!;
    ctx.view.put(parentPath, { ...parent, children: [...parent.children, baseName(p)] });
    const created: XsNode = { value: i === 0 ? value : EMPTY, perms, children: [], generation: 0 };
    ctx.view.put(p, created);
    parentPath = p;
    parent = created;
  }
  ctx.announce({ path, recursive: false, perms });
}

/** RM: removes the node and its subtree. A missing node is fine if its parent exists. */
export function removeNode(ctx: NodeOpContext, path: string): void {
  if (path === '/') throw new XenstoreError('EINVAL', 'cannot remove /');
  const node = ctx.view.get(path);
  const parentPath = parentOf(path);
  const parent = ctx.view.get(parentPath);
  if (!node) {
    if (!parent) throw new XenstoreError('ENOENT', `neither ${path} nor its parent exists`);
    return;
  }
  if (!accessFor(ctx.caller, node.perms).write) throw new XenstoreError('EACCES', `no write access to ${path}`);
  removeSubtree(ctx.view, path);
  if (parent) ctx.view.put(parentPath, { ...parent, children: parent.children.filter((c) => c !== baseName(path)) });
  ctx.announce({ path, recursive: true, perms: node.perms });
}

/** Deletes `path` and everything below it, without touching its parent's child list. */
export function removeSubtree(view: NodeView, path: string): void {
  const stack = [path];
  while (stack.length > 0) {
    const p = stack.pop()!;
    const n = view.get(p);
    if (!n) continue;
    for (const c of n.children) stack.push(childPath(p, c));
    view.delete(p);
  }
}

/** SET_PERMS on a tree node: only its owner (or a privileged caller) may. */
export function setPerms(ctx: NodeOpContext, path: string, perms: readonly XsPerm[]): void {
  const node = existing(ctx, path);
  if (!accessFor(ctx.caller, node.perms).owner) throw new XenstoreError('EACCES', `only the owner may change permissions of ${path}`);
  if (!ctx.caller.privileged) {
    if (!withinQuota(perms.length, ctx.quotas.permsPerNode)) {
      throw new XenstoreError('ENOSPC', `${perms.length} permissions, quota ${ctx.quotas.permsPerNode}`);
    }
    const newOwner = perms[0]!.domid;
    if (newOwner !== node.perms[0]?.domid && !withinQuota(ctx.view.ownedBy(newOwner) + 1, ctx.quotas.nodes)) {
      throw new XenstoreError('ENOSPC', `domain ${newOwner} would own more than ${ctx.quotas.nodes} nodes`);
    }
  }
  ctx.view.put(path, { ...node, perms });
  ctx.announce({ path, recursive: false, perms });
}
