/**
 * aedes-persistence-level 9.2 ships no types: a factory taking a Level
 * database (or sublevel) and returning an aedes persistence. Its methods are
 * called through broker/session-persistence.ts's InnerPersistence.
 */
declare module "aedes-persistence-level" {
  const levelPersistence: (db: unknown) => unknown;
  export default levelPersistence;
}
