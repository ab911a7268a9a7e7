/**
 * Limits NodeMCU's Lua 5.1 enforces where a stock Lua 5.1 compiler does not
 * (or may not, for a chunk made by hand), checked on parsed functions.
 *
 * Why check them when the bytecode comes from a stock compiler and the
 * device never compiles what is in LFS: the same sources ship as app.lua /
 * cfg.lua for builds without LFS, and luac.cross would refuse them, so an
 * image that passes here is one NodeMCU's own tools could have built.
 *
 *   locals     LUAI_MAXVARS 50 (app/lua/luaconf.h; stock 200), checked in
 *              lparser.c new_localvar: `nactvar+n+1 > LUAI_MAXVARS`, i.e.
 *              more than 50 locals in scope at once (parameters, the implicit
 *              `arg` of old-style vararg functions and a for loop's hidden
 *              "(for index)" etc. included).
 *   upvalues   LUAI_MAXUPVALUES 60 (luaconf.h, as stock), lparser.c indexupvalue.
 *   registers  MAXSTACK 250 (llimits.h, as stock), lcode.c luaK_checkstack.
 * The message follows lparser.c errorlimit ("main function" / "function at
 * line N") and says the limit.
 */
import type { LocalVar, Proto } from "./lua51-chunk";
import { LfsBuildError, MAX_LOCALS, MAX_STACK, MAX_UPVALUES } from "./lfs-format";

function functionName(p: Proto): string {
  return p.lineDefined === 0 ? "main function" : `function at line ${p.lineDefined}`;
}

/**
 * The most locals in scope at once, from the debug records. Locals nest
 * (lparser.c removes them last-in first-out), so local i was declared while
 * every earlier j still in scope at i's start was active: j.endPc > i.startPc.
 * A local with an empty range (declared where no instruction followed) also
 * counts the earlier ones that ended at the same pc: they went out of scope
 * with it (or, at worst, just before: this errs towards reporting).
 */
export function maxActiveLocals(locals: readonly LocalVar[]): number {
  let max = 0;
  for (let i = 0; i < locals.length; i++) {
    const li = locals[i] as LocalVar;
    let active = 1;
    for (let j = 0; j < i; j++) {
      const lj = locals[j] as LocalVar;
      if (lj.endPc > li.startPc || (li.startPc === li.endPc && lj.endPc === li.endPc)) {
        active++;
      }
    }
    max = Math.max(max, active);
  }
  return max;
}

/** Throw LfsBuildError naming the module and function when `main` or a function inside it breaks one of NodeMCU's limits. */
export function checkNodemcuLimits(moduleName: string, main: Proto): void {
  const visit = (p: Proto): void => {
    const where = `${moduleName}: ${functionName(p)}`;
    if (p.nups > MAX_UPVALUES) {
      throw new LfsBuildError(`${where} has ${p.nups} upvalues; NodeMCU allows ${MAX_UPVALUES}`);
    }
    if (p.maxStackSize > MAX_STACK) {
      throw new LfsBuildError(`${where} needs ${p.maxStackSize} registers; NodeMCU allows ${MAX_STACK}`);
    }
    if (p.locals.length > 0 || p.lineInfo.length > 0) {
      // unstripped (a stripped chunk has neither line info nor local names)
      const active = maxActiveLocals(p.locals);
      if (active > MAX_LOCALS) {
        throw new LfsBuildError(`${where} has ${active} local variables in scope at once; NodeMCU allows ${MAX_LOCALS}`);
      }
    } else if (p.maxStackSize > MAX_LOCALS) {
      // Registers bound the locals, so only a function using more than 50 needs the debug records to be checked.
      throw new LfsBuildError(
        `${where} uses ${p.maxStackSize} registers and the chunk has no local-variable names; ` +
          `compile it unstripped so NodeMCU's limit of ${MAX_LOCALS} locals can be checked`,
      );
    }
    p.protos.forEach(visit);
  };
  visit(main);
}
