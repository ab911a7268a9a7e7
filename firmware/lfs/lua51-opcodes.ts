/**
 * Lua 5.1 instruction encoding (lopcodes.h; NodeMCU's app/lua/lopcodes.h is
 * the same): 32-bit words, opcode in bits 0-5, A in 6-13, C in 14-22, B in
 * 23-31, Bx = B:C (18 bits), sBx = Bx - MAXARG_sBx.
 */

export const OP = {
  MOVE: 0,
  LOADK: 1,
  LOADBOOL: 2,
  LOADNIL: 3,
  GETUPVAL: 4,
  GETGLOBAL: 5,
  GETTABLE: 6,
  SETGLOBAL: 7,
  SETUPVAL: 8,
  SETTABLE: 9,
  NEWTABLE: 10,
  SELF: 11,
  ADD: 12,
  SUB: 13,
  MUL: 14,
  DIV: 15,
  MOD: 16,
  POW: 17,
  UNM: 18,
  NOT: 19,
  LEN: 20,
  CONCAT: 21,
  JMP: 22,
  EQ: 23,
  LT: 24,
  LE: 25,
  TEST: 26,
  TESTSET: 27,
  CALL: 28,
  TAILCALL: 29,
  RETURN: 30,
  FORLOOP: 31,
  FORPREP: 32,
  TFORLOOP: 33,
  SETLIST: 34,
  CLOSE: 35,
  CLOSURE: 36,
  VARARG: 37,
} as const;

export const NUM_OPCODES = 38;
export const OPCODE_NAMES = Object.keys(OP);

export const MAXARG_BX = (1 << 18) - 1;
export const MAXARG_SBX = MAXARG_BX >> 1;
/** BITRK: a B or C operand with this bit is a constant index (RK). */
export const BITRK = 1 << 8;

export function createABC(op: number, a: number, b: number, c: number): number {
  return (op | (a << 6) | (c << 14) | (b << 23)) >>> 0;
}

export function createABx(op: number, a: number, bx: number): number {
  return (op | (a << 6) | (bx << 14)) >>> 0;
}

export interface Decoded {
  op: number;
  a: number;
  b: number;
  c: number;
  bx: number;
  sbx: number;
}

export function decode(i: number): Decoded {
  const bx = i >>> 14;
  return { op: i & 0x3f, a: (i >>> 6) & 0xff, b: i >>> 23, c: (i >>> 14) & 0x1ff, bx, sbx: bx - MAXARG_SBX };
}

/** luaO_int2fb (lobject.c): a table size as a "floating point byte", eeeeexxx. */
export function int2fb(x: number): number {
  let e = 0;
  while (x >= 16) {
    x = (x + 1) >> 1;
    e++;
  }
  return x < 8 ? x : ((e + 1) << 3) | (x - 8);
}

/** Which B/C operands may be RK (a constant when >= BITRK), per lopcodes.c's OpArgK modes. */
export function rkOperands(op: number): { b: boolean; c: boolean } {
  switch (op) {
    case OP.GETTABLE:
    case OP.SELF:
      return { b: false, c: true };
    case OP.SETTABLE:
    case OP.ADD:
    case OP.SUB:
    case OP.MUL:
    case OP.DIV:
    case OP.MOD:
    case OP.POW:
    case OP.EQ:
    case OP.LT:
    case OP.LE:
      return { b: true, c: true };
    default:
      return { b: false, c: false };
  }
}
