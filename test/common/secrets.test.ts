import { describe, expect, it } from "vitest";
import { MASK, maskSecrets, maskUrlPassword, SecretMasker } from "../../common/secrets";

describe("the secret masker (common/secrets.ts), used by every log path", () => {
  it("hides secrets raw and JSON-escaped, longest first", () => {
    const mask = new SecretMasker(['zq"ss', "zq", ""]).mask;
    expect(mask('config {"wifi_password":"zq\\"ss"} and zq"ss and zq')).toBe('config {"wifi_password":"***"} and *** and ***');
    expect(new SecretMasker().mask("unchanged")).toBe("unchanged");
  });

  it("hides a secret of a few characters where it stands alone, not inside words", () => {
    expect(maskSecrets('--broker "mqtt://u:b@h" and b, x.y but not xzy', ["b", "x.y"])).toBe('--broker "mqtt://u:***@h" and ***, *** but not xzy');
  });

  it("hides a secret percent-encoded inside a URL", () => {
    expect(maskSecrets("connect mqtt://node-1:p%40ss%2Fw0rd@10.0.0.2 refused", ["p@ss/w0rd"])).toBe("connect mqtt://node-1:***@10.0.0.2 refused");
  });

  it("learns secrets as they become known", () => {
    const masker = new SecretMasker(["first-secret"]);
    expect(masker.mask("first-secret second-secret")).toBe("*** second-secret");
    masker.add("second-secret");
    expect(masker.mask("first-secret second-secret")).toBe("*** ***");
  });

  it("masks the password of a URL, and nothing of a URL without one", () => {
    expect(maskUrlPassword("postgres://app:s3cret@db:5432/espfleet")).toBe(`postgres://app:${MASK}@db:5432/espfleet`);
    expect(maskUrlPassword("mqtts://user@broker:8883")).toBe("mqtts://user@broker:8883");
  });
});
