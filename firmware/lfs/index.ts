/**
 * NodeMCU's binary formats, written and read in TypeScript (Node only; this
 * folder is build tooling and is never transpiled to Lua):
 *   Lua 5.1 chunks      parseChunk, dumpChunk, stripChunk, nodemcuChunk  (lua51-chunk.ts)
 *   LFS images          writeLfsImage, readLfsImage                       (lfs-writer.ts, lfs-reader.ts)
 * The LFS image is NodeMCU 3.x's Lua 5.1 float format, as `luac.cross -f`
 * writes it and node.LFS.reload loads it; see lfs-format.ts.
 */
export {
  LUA51_32BIT_HEADER,
  allProtos,
  dumpChunk,
  nodemcuChunk,
  parseChunk,
  readHeader,
  stripChunk,
  type Chunk,
  type ChunkHeader,
  type ChunkLayout,
  type Constant,
  type LocalVar,
  type Proto,
} from "./lua51-chunk";
export { DEFAULT_LFS_BYTES, LfsBuildError, LfsFormatError, MAX_LOCALS, MAX_MODULES, MAX_UPVALUES, type LfsHeader } from "./lfs-format";
export { buildLfsImage, layoutLfsImage, writeLfsImage, type LfsBuild, type LfsModuleInput, type WriteLfsOptions } from "./lfs-writer";
export { decodeLfsRaw, moduleChunks, readLfsImage, type LfsImage, type LfsModule, type ReadLfsOptions } from "./lfs-reader";
