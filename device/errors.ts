/** An error a user can act on: the message says what happened and what to do. */
export class DeviceError extends Error {
  override name = "DeviceError";
}
