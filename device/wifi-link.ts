/**
 * The station side of the virtual ESP8266's wifi: it joins the (virtual)
 * access point a little after it is asked to, like the SDK, and keeps
 * retrying while the join fails; the host can make joins fail (the AP is
 * gone, a wrong password) and drop a joined link.
 *
 * Events go to Lua as ("wifi", what, ...): "connected" (ssid, bssid,
 * channel), "got_ip" (ip, netmask, gateway), "disconnected" (reason, ssid,
 * bssid); reasons are the SDK's (wifi.eventmon.reason).
 */

export interface WifiLinkOptions {
  /** From connect to STA_GOT_IP, in ms (a real join with DHCP takes 1-4 s). */
  joinDelayMs: number;
  /** Between failed join attempts, in ms (each one reports STA_DISCONNECTED). */
  retryMs: number;
  ip: string;
  netmask: string;
  gateway: string;
  bssid: string;
  channel: number;
}

export const WIFI_REASON = {
  ASSOC_LEAVE: 8,
  BEACON_TIMEOUT: 200,
  NO_AP_FOUND: 201,
  AUTH_FAIL: 202,
} as const;

type Deliver = (what: "connected" | "got_ip" | "disconnected", ...args: (string | number)[]) => void;

export class WifiLink {
  private state: "idle" | "joining" | "up" = "idle";
  /** The firmware wants to be joined (the SDK retries by itself while this holds). */
  private wanted = false;
  private ssid = "";
  private timer: NodeJS.Timeout | undefined = undefined;
  /** Set by the host: joins fail with this reason (kept across reboots: it is the environment). */
  private failReason: number | undefined = undefined;
  private deliver: Deliver = () => {};
  private linkLost: () => void = () => {};

  constructor(private readonly options: WifiLinkOptions) {}

  /** A new boot: the radio starts idle, events go to the new boot's Lua state. */
  attach(deliver: Deliver, linkLost: () => void): void {
    this.detach();
    this.deliver = deliver;
    this.linkLost = linkLost;
  }

  /** The boot is over (reboot, stop): nothing more is delivered. */
  detach(): void {
    this.clearTimer();
    this.state = "idle";
    this.wanted = false;
    this.deliver = () => {};
    this.linkLost = () => {};
  }

  isUp(): boolean {
    return this.state === "up";
  }

  /** wifi.sta.config{auto=true} (reconfigure) or wifi.sta.connect(). */
  connect(ssid: string, reconfigure: boolean): void {
    this.wanted = true;
    this.ssid = ssid;
    if (this.state === "up") {
      if (reconfigure) {
        // wifi_station_disconnect(); wifi_station_connect(): leave, then join again.
        this.leave(WIFI_REASON.ASSOC_LEAVE);
        this.schedule(this.options.joinDelayMs);
      }
      return;
    }
    if (this.state === "idle") {
      this.state = "joining";
      this.schedule(this.options.joinDelayMs);
    }
  }

  /** wifi.sta.disconnect(). */
  disconnect(): void {
    this.wanted = false;
    this.clearTimer();
    if (this.state === "up") {
      this.leave(WIFI_REASON.ASSOC_LEAVE);
    }
    this.state = "idle";
  }

  /** Host: joins fail with `reason` from now on (201 no AP found, 202 wrong password). */
  fail(reason: number = WIFI_REASON.NO_AP_FOUND): void {
    this.failReason = reason;
  }

  /** Host: the access point works again; a station that wants to join does so at its next try. */
  restore(): void {
    this.failReason = undefined;
  }

  /** Host: the link drops now (default: beacon timeout); the SDK rejoins by itself. */
  drop(reason: number = WIFI_REASON.BEACON_TIMEOUT): void {
    if (this.state !== "up") {
      return;
    }
    this.leave(reason);
    if (this.wanted) {
      this.state = "joining";
      this.schedule(this.options.joinDelayMs);
    }
  }

  private leave(reason: number): void {
    this.state = "idle";
    this.linkLost();
    this.deliver("disconnected", reason, this.ssid, this.options.bssid);
  }

  private schedule(ms: number): void {
    this.clearTimer();
    this.timer = setTimeout(() => this.attempt(), ms);
  }

  private attempt(): void {
    this.timer = undefined;
    if (!this.wanted) {
      this.state = "idle";
      return;
    }
    if (this.failReason !== undefined) {
      this.state = "joining";
      this.deliver("disconnected", this.failReason, this.ssid, this.options.bssid);
      this.schedule(this.options.retryMs);
      return;
    }
    const o = this.options;
    this.state = "up";
    this.deliver("connected", this.ssid, o.bssid, o.channel);
    this.deliver("got_ip", o.ip, o.netmask, o.gateway);
  }

  private clearTimer(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }
}
