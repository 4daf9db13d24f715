--[[
session_store.lua -- store a session document in the schema of SPEC section 4.

  EVAL <script> 2 <P{ID}> <P{ID}:stops> <document JSON> [owner] [ttl seconds]

The document has the shape of the 200 response (the VX webhook payload is the
same shape).  In one atomic script run the writer

  * validates the whole document first (nothing is written if it is refused);
  * DELs both keys;
  * HSETs the flat string fields fn ln addr city state zip dob email phone
    reference status request_id (a null value leaves the field out), `owner`
    when ARGV[2] is a non-empty string, and the JSON-text fields
    additionalData dcams_plus storage documents as compact JSON text;
  * RPUSHes every element of journey.stops as compact JSON text, in order;
  * EXPIREs both keys when ttl > 0;

and returns the number of stops.  Any other member (journey.duration, which is
computed on read, or unknown members such as "owner" or "ssn") is ignored:
the owner comes only from ARGV[2], never from the document.

Why a scanner instead of cjson.encode: Redis' cjson cannot tell [] from {}
once decoded, and re-encoding would also rewrite numbers and escapes.  The
script therefore keeps the source text of every stored value, minus the
whitespace between tokens.  cjson.decode is used only to unescape strings and
to look inside stops.

The grammar is strict RFC 8259 (what jansson accepts on read), plus:
  * strings must be valid UTF-8 and may not contain \u0000 or a lone
    surrogate escape;
  * nesting deeper than 64 levels and duplicate member names in the document
    object, in journey, and in each stop are refused;
  * request_id is required, must match [A-Za-z0-9][A-Za-z0-9._-]{0,127},
    and KEYS[1] must end in "{<request_id>}" and KEYS[2] be KEYS[1]..":stops";
  * additionalData must be an object, an array or null; every stop an object
    whose timestamp/type/source/status/action/detail are strings or null.

Errors are replies starting with "ERR session_store: ".
]]

local MAX_DEPTH = 64

local FLAT = { "fn", "ln", "addr", "city", "state", "zip", "dob", "email",
               "phone", "reference", "status", "request_id" }
local JSONTEXT = { "additionalData", "dcams_plus", "storage", "documents" }
local STOP_FIELDS = { "timestamp", "type", "source", "status", "action",
                      "detail" }

local function fail(msg)
    error({ session_store = msg }, 0)
end

local byte, sub, find = string.byte, string.sub, string.find

-- strict UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF
local function check_utf8(s, i, j)
    while i <= j do
        local c = byte(s, i)
        local n, lo, hi = 0, 0x80, 0xBF
        if c < 0x80 then
            n = 0
        elseif c >= 0xC2 and c <= 0xDF then
            n = 1
        elseif c == 0xE0 then
            n, lo = 2, 0xA0
        elseif c == 0xED then
            n, hi = 2, 0x9F
        elseif c >= 0xE1 and c <= 0xEF then
            n = 2
        elseif c == 0xF0 then
            n, lo = 3, 0x90
        elseif c == 0xF4 then
            n, hi = 3, 0x8F
        elseif c >= 0xF1 and c <= 0xF3 then
            n = 3
        else
            fail("invalid UTF-8 at byte " .. i)
        end
        for k = 1, n do
            local d = byte(s, i + k)
            if d == nil or i + k > j then
                fail("invalid UTF-8 at byte " .. i)
            end
            if k == 1 then
                if d < lo or d > hi then fail("invalid UTF-8 at byte " .. i) end
            elseif d < 0x80 or d > 0xBF then
                fail("invalid UTF-8 at byte " .. i)
            end
        end
        i = i + n + 1
    end
end

local function skip_ws(s, i)
    local _, e = find(s, "^[ \t\r\n]*", i)
    return e + 1
end

-- A string starting at s[i] == '"'; returns the index after the closing quote.
local function scan_string(s, i)
    local j = i + 1
    local high = false             -- the previous escape was a high surrogate
    while true do
        local k = find(s, '[%z\1-\31"\\\128-\255]', j)
        if k == nil then fail("unterminated string at byte " .. i) end
        local c = byte(s, k)
        if high and (k ~= j or c ~= 92) then
            fail("lone surrogate escape at byte " .. k)
        end
        if c == 34 then                                   -- "
            return k + 1
        elseif c == 92 then                               -- backslash
            local e = byte(s, k + 1)
            if e == 117 then                              -- \uXXXX
                local hex = sub(s, k + 2, k + 5)
                if not find(hex, "^%x%x%x%x$") then
                    fail("bad \\u escape at byte " .. k)
                end
                local u = tonumber(hex, 16)
                if u == 0 then fail("\\u0000 in string at byte " .. k) end
                if u >= 0xD800 and u <= 0xDBFF then
                    if high then fail("lone surrogate escape at byte " .. k) end
                    high = true
                elseif u >= 0xDC00 and u <= 0xDFFF then
                    if not high then
                        fail("lone surrogate escape at byte " .. k)
                    end
                    high = false
                elseif high then
                    fail("lone surrogate escape at byte " .. k)
                end
                j = k + 6
            elseif e and find('"\\/bfnrt', string.char(e), 1, true) then
                if high then fail("lone surrogate escape at byte " .. k) end
                j = k + 2
            else
                fail("bad escape at byte " .. k)
            end
        elseif c >= 128 then
            -- validate the run of non-ASCII bytes
            local _, e = find(s, "^[\128-\255]+", k)
            check_utf8(s, k, e)
            j = e + 1
        else
            fail("control character in string at byte " .. k)
        end
    end
end

local scan_value

-- Scans the value at s[i] (no leading whitespace), appends its compact text
-- to out, returns the index after it.
scan_value = function(s, i, out, depth)
    local c = byte(s, i)
    if c == nil then fail("unexpected end of document") end
    if c == 34 then
        local e = scan_string(s, i)
        out[#out + 1] = sub(s, i, e - 1)
        return e
    elseif c == 123 or c == 91 then                       -- { or [
        if depth >= MAX_DEPTH then fail("nesting deeper than " .. MAX_DEPTH) end
        local close = (c == 123) and 125 or 93
        out[#out + 1] = string.char(c)
        i = skip_ws(s, i + 1)
        if byte(s, i) == close then
            out[#out + 1] = string.char(close)
            return i + 1
        end
        while true do
            if c == 123 then
                if byte(s, i) ~= 34 then
                    fail("member name expected at byte " .. i)
                end
                local e = scan_string(s, i)
                out[#out + 1] = sub(s, i, e - 1)
                i = skip_ws(s, e)
                if byte(s, i) ~= 58 then fail("':' expected at byte " .. i) end
                out[#out + 1] = ":"
                i = skip_ws(s, i + 1)
            end
            i = skip_ws(s, scan_value(s, i, out, depth + 1))
            local d = byte(s, i)
            if d == close then
                out[#out + 1] = string.char(close)
                return i + 1
            elseif d == 44 then
                out[#out + 1] = ","
                i = skip_ws(s, i + 1)
            else
                fail("',' or closing bracket expected at byte " .. i)
            end
        end
    else
        local _, m = find(s, "^-?%d+", i)
        if m then
            if find(s, "^-?0%d", i) then
                fail("number with leading zero at byte " .. i)
            end
            local f
            _, f = find(s, "^%.%d+", m + 1)
            if f then m = f elseif byte(s, m + 1) == 46 then
                fail("bad number at byte " .. i)
            end
            _, f = find(s, "^[eE][+-]?%d+", m + 1)
            if f then m = f elseif find(s, "^[eE]", m + 1) then
                fail("bad number at byte " .. i)
            end
            out[#out + 1] = sub(s, i, m)
            return m + 1
        end
        for _, lit in ipairs({ "true", "false", "null" }) do
            if sub(s, i, i + #lit - 1) == lit then
                out[#out + 1] = lit
                return i + #lit
            end
        end
        fail("unexpected character at byte " .. i)
    end
end

-- Splits the object at s[i] into { name = compact value text } (names
-- unescaped), refusing duplicate names; returns the table and the index
-- after the object.  Members are scanned (validated) whatever their name.
local function members(s, i, what)
    if byte(s, i) ~= 123 then fail(what .. " must be an object") end
    local t = {}
    i = skip_ws(s, i + 1)
    if byte(s, i) == 125 then return t, i + 1 end
    while true do
        if byte(s, i) ~= 34 then fail("member name expected at byte " .. i) end
        local ne = scan_string(s, i)
        local name = cjson.decode(sub(s, i, ne - 1))
        if t[name] ~= nil then
            fail("duplicate member " .. name .. " in " .. what)
        end
        i = skip_ws(s, ne)
        if byte(s, i) ~= 58 then fail("':' expected at byte " .. i) end
        local v = {}
        i = skip_ws(s, scan_value(s, skip_ws(s, i + 1), v, 1))
        t[name] = table.concat(v)
        local d = byte(s, i)
        if d == 125 then return t, i + 1 end
        if d ~= 44 then fail("',' or '}' expected at byte " .. i) end
        i = skip_ws(s, i + 1)
    end
end

-- Elements of the array at s[i], each as compact text.
local function elements(s, i, what)
    if byte(s, i) ~= 91 then fail(what .. " must be an array") end
    local list = {}
    i = skip_ws(s, i + 1)
    while byte(s, i) ~= 93 do
        local v = {}
        i = skip_ws(s, scan_value(s, i, v, 1))
        list[#list + 1] = table.concat(v)
        local d = byte(s, i)
        if d == 44 then
            i = skip_ws(s, i + 1)
        elseif d ~= 93 then
            fail("',' or ']' expected in " .. what .. " at byte " .. i)
        end
    end
    return list
end

local function parse(doc, hash_key, stops_key)
    local start = skip_ws(doc, 1)
    if byte(doc, start) ~= 123 then fail("document must be a JSON object") end
    local top, e = members(doc, start, "document")
    if skip_ws(doc, e) <= #doc then
        fail("trailing data after the document at byte " .. skip_ws(doc, e))
    end

    local fields = {}
    for _, name in ipairs(FLAT) do
        local v = top[name]
        if v ~= nil and v ~= "null" then
            if byte(v, 1) ~= 34 then fail(name .. " must be a string or null") end
            fields[#fields + 1] = name
            fields[#fields + 1] = cjson.decode(v)
        end
    end

    local id = top.request_id and top.request_id ~= "null"
               and cjson.decode(top.request_id)
    if not id then fail("request_id is required") end
    if #id > 128 or not find(id, "^[A-Za-z0-9][A-Za-z0-9._-]*$") then
        fail("request_id has invalid syntax")
    end
    local tag = "{" .. id .. "}"
    if sub(hash_key, -#tag) ~= tag then
        fail("KEYS[1] must be <prefix>{" .. id .. "}")
    end
    if stops_key ~= hash_key .. ":stops" then
        fail("KEYS[2] must be KEYS[1]..\":stops\"")
    end

    local texts = {}
    for _, name in ipairs(JSONTEXT) do
        local v = top[name]
        if v ~= nil then
            if name == "additionalData" and v ~= "null" then
                local c = byte(v, 1)
                if c ~= 123 and c ~= 91 then
                    fail("additionalData must be an object, an array or null")
                end
            end
            texts[#texts + 1] = name
            texts[#texts + 1] = v
        end
    end

    local stops = {}
    local journey = top.journey
    if journey ~= nil and journey ~= "null" then
        local j = members(journey, 1, "journey")
        if j.stops ~= nil and j.stops ~= "null" then
            stops = elements(j.stops, 1, "journey.stops")
        end
    end
    for n, stop in ipairs(stops) do
        local what = "journey.stops[" .. (n - 1) .. "]"
        members(stop, 1, what)          -- an object, no duplicate names
        local t = cjson.decode(stop)
        for _, k in ipairs(STOP_FIELDS) do
            local v = t[k]
            if v ~= nil and v ~= cjson.null and type(v) ~= "string" then
                fail(what .. "." .. k .. " must be a string or null")
            end
        end
    end
    return fields, texts, stops
end

local hash_key, stops_key = KEYS[1], KEYS[2]
local doc, owner, ttl = ARGV[1], ARGV[2], ARGV[3]

if #KEYS ~= 2 or hash_key == nil or stops_key == nil then
    return redis.error_reply("ERR session_store: needs 2 keys")
end
if doc == nil then
    return redis.error_reply("ERR session_store: no document")
end
local seconds = 0
if ttl ~= nil and ttl ~= "" then
    if not find(ttl, "^%d+$") or #ttl > 12 then
        return redis.error_reply("ERR session_store: ttl must be seconds")
    end
    seconds = tonumber(ttl)
end

local ok, fields, texts, stops = pcall(parse, doc, hash_key, stops_key)
if not ok then
    local msg = fields
    if type(msg) == "table" and msg.session_store then
        msg = msg.session_store
    else
        msg = "invalid document: " .. tostring(msg)
    end
    return redis.error_reply("ERR session_store: " .. msg)
end

-- field order as in fixtures/seed-session.redis: flat, owner, JSON text
if owner ~= nil and owner ~= "" then
    fields[#fields + 1] = "owner"
    fields[#fields + 1] = owner
end
for _, v in ipairs(texts) do fields[#fields + 1] = v end

redis.call("DEL", hash_key, stops_key)
redis.call("HSET", hash_key, unpack(fields))
local n = 1
while n <= #stops do
    local last = math.min(n + 999, #stops)
    redis.call("RPUSH", stops_key, unpack(stops, n, last))
    n = last + 1
end
if seconds > 0 then
    redis.call("EXPIRE", hash_key, seconds)
    if #stops > 0 then redis.call("EXPIRE", stops_key, seconds) end
end
return #stops
