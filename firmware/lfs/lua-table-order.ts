/**
 * The order in which `lua_next` visits the string keys of a Lua table built
 * by inserting them one at a time, in NodeMCU's Lua 5.1 (app/lua/ltable.c).
 *
 * Why this exists: luac.cross collects every string of the image as a key
 * of a Lua table (lflashimg.c scanProtoStrings/addTS) and then lays the ROM
 * string table out in `lua_next` order (createROstrt). To write the same
 * bytes we replay that table. Its order is a function of the keys' hashes
 * and of the insertion order only, but NodeMCU's ltable.c differs from stock
 * Lua 5.1 here: it grows the node vector in place and re-chains it
 * (resize_hashpart / move_node, from eLua) instead of re-inserting every key
 * into a fresh vector, so a stock-Lua model would give another order.
 *
 * Only what string keys with non-nil values exercise is modelled: no array
 * part (computesizes gives it size 0 when no key is a positive integer), no
 * deletions, no shrinking. Node indices stand in for C pointers; -1 is NULL.
 */

interface Node {
  key: string | undefined; // undefined: nil key
  hash: number;
  hasValue: boolean; // values are never nil once set (lua_rawset of 1)
  next: number;
}

const NIL = -1;

function emptyNode(): Node {
  return { key: undefined, hash: 0, hasValue: false, next: NIL };
}

/** ceillog2(x) of lobject.h: luaO_log2(x-1)+1, i.e. the smallest l with 2^l >= x (0 for x = 1). */
function ceilLog2(x: number): number {
  let l = 0;
  while (2 ** l < x) {
    l++;
  }
  return l;
}

export class LuaStringTable {
  /** The node vector; empty while the table uses the shared `dummynode` (luaH_new with nhash 0). */
  private nodes: Node[] = [];
  private dummy = true;
  /** t->lastfree, as an index: getfreepos() scans down from here. */
  private lastFree = 0;
  private readonly present = new Set<string>();

  /** lua_rawset(t, key, 1): a new key is placed by newkey(); an existing one stays where it is. */
  insert(key: string, hash: number): void {
    if (this.present.has(key)) {
      return;
    }
    this.present.add(key);
    this.newKey(key, hash);
  }

  /** Keys in lua_next order: array part (empty here), then node[0..size-1] with non-nil values (luaH_next). */
  keys(): string[] {
    return this.nodes.filter((n) => n.hasValue && n.key !== undefined).map((n) => n.key as string);
  }

  private mainPosition(hash: number): number {
    // hashstr(t, str) = gnode(t, lmod(hash, sizenode(t))); the dummy node is the only node of an empty table
    return this.dummy ? NIL : hash & (this.nodes.length - 1);
  }

  private node(i: number): Node {
    const n = this.nodes[i];
    if (n === undefined) {
      throw new Error(`LuaStringTable: no node ${i}`);
    }
    return n;
  }

  /** getfreepos(): `while (t->lastfree-- > t->node) if key is nil return it`. */
  private getFreePos(): number {
    while (this.lastFree > 0) {
      this.lastFree--;
      if (this.node(this.lastFree).key === undefined) {
        return this.lastFree;
      }
    }
    this.lastFree--; // the C loop decrements once more before giving up; harmless, kept for fidelity
    return NIL;
  }

  /** newkey(): Brent's variation, as in ltable.c. */
  private newKey(key: string, hash: number): void {
    let mp = this.mainPosition(hash);
    if (mp === NIL || this.node(mp).hasValue) {
      const n = this.getFreePos();
      if (n === NIL) {
        this.rehash();
        this.newKey(key, hash); // luaH_set after the rehash: the key is still absent
        return;
      }
      const mpNode = this.node(mp);
      let othern = this.mainPosition(mpNode.hash);
      if (othern !== mp) {
        // the colliding node is out of its main position: move it to the free slot
        while (this.node(othern).next !== mp) {
          othern = this.node(othern).next;
        }
        this.node(othern).next = n;
        this.nodes[n] = { ...mpNode };
        mpNode.next = NIL;
        mpNode.hasValue = false;
      } else {
        // the colliding node is in its own main position: the new key goes to the free slot
        const free = this.node(n);
        free.next = mpNode.next;
        mpNode.next = n;
        mp = n;
      }
    }
    const target = this.node(mp);
    target.key = key;
    target.hash = hash;
    target.hasValue = true;
  }

  /** rehash() with only string keys: the hash part grows to hold every key plus the new one. */
  private rehash(): void {
    const used = this.nodes.filter((n) => n.hasValue).length;
    this.resizeHashPart(used + 1);
  }

  /** resize_hashpart(), growing case (the table never shrinks here). */
  private resizeHashPart(wanted: number): void {
    const oldSize = this.dummy ? 0 : this.nodes.length;
    const newSize = 2 ** ceilLog2(wanted);
    if (newSize <= oldSize) {
      throw new Error("LuaStringTable: unexpected shrink");
    }
    // resizenodevector(): keep the old nodes, add nil ones, lastfree at the end
    for (let i = oldSize; i < newSize; i++) {
      this.nodes.push(emptyNode());
    }
    this.dummy = false;
    this.lastFree = newSize;
    // break old chains (nodes with nil values get nil keys; none here)
    for (let i = 0; i < oldSize; i++) {
      const old = this.node(i);
      old.next = NIL;
      if (!old.hasValue) {
        old.key = undefined;
      }
    }
    // move nodes to their new main positions and re-create the chains
    for (let i = 0; i < newSize; i++) {
      if (this.node(i).hasValue) {
        while (!this.moveNode(i));
      }
    }
  }

  /** find_prev_node(mp, next): the node of mp's chain whose next is `next`, or NIL. */
  private findPrev(mp: number, next: number): number {
    let prev = mp;
    while (prev !== NIL && this.node(prev).next !== next) {
      prev = this.node(prev).next;
    }
    return prev;
  }

  /** move_node(); false when it swapped in a node that must be moved in turn. */
  private moveNode(index: number): boolean {
    const node = this.node(index);
    const mp = this.mainPosition(node.hash);
    if (mp === index) {
      return true;
    }
    if (this.findPrev(mp, index) !== NIL) {
      return true; // already in its main position's chain
    }
    const mpNode = this.node(mp);
    if (mpNode.hasValue) {
      const otherMp = this.mainPosition(mpNode.hash);
      if (otherMp !== mp) {
        // the colliding node is out of its main position: swap it with the moving one
        const tmp = { ...node };
        const prev = this.findPrev(otherMp, mp);
        if (prev !== NIL) {
          this.node(prev).next = index;
        }
        this.nodes[index] = { ...mpNode };
        this.nodes[mp] = tmp;
        return prev !== NIL;
      }
      // the colliding node is in its own main position: chain the moving node after it
      node.next = mpNode.next;
      mpNode.next = index;
    } else {
      this.nodes[mp] = { ...node };
      node.next = NIL;
      node.key = undefined;
      node.hasValue = false;
    }
    return true;
  }
}
