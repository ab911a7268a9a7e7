-- luacheck: std lua51
--[[
tls, only what the firmware uses: tls.cert.verify (app/modules/tls.c,
docs/modules/tls.md). verify(pem[, pem2]) writes the PEM to the
certificate flash area outside the file system ("Unable to load
certificate" unless it has BEGIN/END CERTIFICATE lines) and turns
verification on; verify(true) raises "no certificates found" when that
area is empty; verify(false) turns it off. The flag is RAM (off at every
boot), the area is flash. The callback form is not emulated.

ctx.tls:
  ca_stored    the certificate area holds a CA at boot
  store(pem)   write the area
  verify(on)   secure connections check the broker's certificate (or not)
Returns tls.
]]
return function(ctx)
  local h = ctx.tls
  local type, error, find = type, error, string.find
  local tls = { cert = {} }
  local ca_stored = h.ca_stored == true
  function tls.cert.verify(a, b)
    if type(a) == "string" then
      local pem = a .. (type(b) == "string" and ("\n" .. b) or "")
      if not find(pem, "-----BEGIN CERTIFICATE-----", 1, true) or not find(pem, "-----END CERTIFICATE-----", 1, true) then
        error("Unable to load certificate", 0)
      end
      h.store(pem)
      ca_stored = true
      h.verify(true)
      return true
    elseif type(a) == "function" then
      error("tls.cert.verify(callback) is not emulated; pass the PEM data", 0)
    end
    local on = a and true or false
    if on and not ca_stored then
      error("no certificates found", 0)
    end
    h.verify(on)
    return true
  end
  return tls
end
