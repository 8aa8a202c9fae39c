# Rails session hashes as redis-session-store / redis-rack store them: Marshal.dump of the
# session Hash (string keys). Writes one "<key>\t<hex>\t<ttl>" line per session to stdout;
# the keys use the private id form "2::<sha256 hex>" (rack-session ID_VERSION 2).
require "digest"
require "securerandom"

def key(prefix, rnd)
  "#{prefix}2::#{Digest::SHA256.hexdigest(rnd.bytes(16).unpack1('H*'))}"
end

rnd = Random.new(7)
rows = []
# 3 sessions that were only loaded for a CSRF token (never used), 2 logged in.
3.times { rows << [key("myapp:session:", rnd), { "_csrf_token" => rnd.bytes(32).unpack1("H*") }, 3600] }
2.times do |i|
  rows << [key("myapp:session:", rnd), { "_csrf_token" => "t#{i}", "user_id" => 100 + i,
                                         "warden.user.user.key" => [[100 + i], "salt"],
                                         "flash" => { "discard" => [], "flashes" => { "notice" => "hi" } },
                                         "ratio" => 1.5, "admin" => true, "nothing" => nil,
                                         "sym" => :ok, "big" => 2**70 }, 3600]
end
# redis-session-store without expire_after: a plain SET, no TTL (issue #70).
rows << [key("myapp:session:", rnd), { "_csrf_token" => "x", "user_id" => 5 }, nil]
rows.each { |k, h, ttl| puts [k, Marshal.dump(h).unpack1("H*"), ttl || -1].join("\t") }
