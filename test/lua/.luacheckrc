-- luacheck for the mock and the busted specs (run from test/lua; from the
-- repository root the files' inline "-- luacheck: std ..." lines apply).
std = "max+busted"
max_line_length = false
