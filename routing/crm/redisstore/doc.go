// Package redisstore keeps the customer store (crm.Store) in Redis, so that
// several engine nodes share one set of customers and one full reload
// serves them all.
//
// # Layout
//
// All keys start with Options.Prefix and carry the hash tag {customers}, so
// they live in one Redis Cluster slot and the Lua scripts below may touch
// them together:
//
//	<prefix>{customers}:current       generation number of the live set
//	<prefix>{customers}:seq           counter handing out generation numbers
//	<prefix>{customers}:gen:<n>:<b>   hash: canonical number -> packed record
//	<prefix>{customers}:gen:<n>:n     customers in generation n (for Len)
//	<prefix>{customers}:building      sorted set: reloads under way, by start
//
// A generation spreads its customers over 16384 hashes, bucket b chosen by
// FNV-1a of the number; field = canonical number, value = a packed binary
// record (see encodeRecord): version, flags, then length-prefixed ID (left
// out when it equals the number), name, tier, region and attributes. A
// typical customer packs into 20-40 bytes.
//
// Why buckets rather than a hash per customer or one big hash: per-key
// overhead costs more than a customer, and one big hash is a hashtable
// (about 105 bytes of Redis memory per customer), whereas a bucket of up to
// 128 short entries stays a flat listpack. At 1,000,000 customers (about 61
// per bucket) a generation takes about 60 bytes per customer, 60 MB
// (BenchmarkReplace reports redis-bytes/customer); a full reload needs room
// for two generations at once, so budget 150 MB. Past about 2,000,000
// customers, or with records over 64 bytes (many attributes), buckets turn
// into hashtables: still correct, less compact. A lookup scans one
// listpack of about 61 entries, which costs Redis a microsecond or two.
//
// # Full reload
//
// Replace registers a fresh generation number as building, writes the new
// set under it, then one O(1) Lua script unregisters it, sets its count and
// points "current" at it. A reload that never switches (its node died)
// is dropped by the first reload, on any node, that starts more than an
// hour later. Lookups read "current" and the bucket in one script, so they
// see the old set or the new one, never a mix. The old generation is then
// UNLINKed in chunks of 512 buckets (about half a millisecond of Redis time
// each): Redis frees big values on its lazy-free thread, so the server
// never stalls on a million-customer delete. An error or cancellation
// mid-reload drops the half-built generation and keeps the live one.
// Incremental writes that race a reload land in the generation being
// replaced and are lost to it, as with crm.MemStore; the next refresh brings
// them back.
//
// # Timeouts
//
// Get, Put, Delete and Len are bounded by Options.Timeout or the caller's
// earlier deadline, enforced as socket deadlines, so a stalled Redis costs a
// call at most that long. Replace is bounded per batch.
package redisstore
