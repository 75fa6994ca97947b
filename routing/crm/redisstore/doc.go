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
//	<prefix>{customers}:current   generation number of the live set
//	<prefix>{customers}:seq       counter handing out generation numbers
//	<prefix>{customers}:gen:<n>   hash: canonical number -> packed record
//
// One hash per generation, field = canonical number, value = a packed binary
// record (see encodeRecord): version, flags, then length-prefixed ID (left
// out when it equals the number), name, tier, region and attributes. A
// typical customer packs into 20-40 bytes. One hash rather than a hash per
// customer because per-key overhead (key object, expiry slot, dict entry in
// the keyspace) costs more than the customer itself, HLEN gives Len in O(1),
// and a whole generation can be dropped with one UNLINK. At 1,000,000
// customers a generation is one hashtable-encoded hash of about 105 MB of
// Redis memory (BenchmarkReplace reports redis-bytes/customer); a full
// reload needs room for two generations at once, so budget 250 MB.
//
// # Full reload
//
// Replace writes the new set under a fresh generation key (with an expiry,
// so a node that dies mid-reload leaves nothing behind), then one Lua script
// checks the new hash holds every customer written, points "current" at it
// and removes the expiry. Lookups read "current" and the hash in one script,
// so they see the old set or the new one, never a mix. The old generation
// is then UNLINKed: Redis frees it on its lazy-free thread, so the server
// never stalls on a million-field delete. An error or cancellation
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
