// Package gen makes realistic hit records for the demo, the tests and the
// benchmarks, and the manifest of what was produced that the checker
// compares the bucket with. Output is a pure function of the options (seeded).
package gen

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/hitexport/hitexport/verify/manifest"
)

// Options shape a batch of records.
type Options struct {
	Seed  uint64
	Count int
	// Start and Span: event times are spread in order over [Start, Start+Span)
	// with Jitter of disorder.
	Start  time.Time
	Span   time.Duration
	Jitter time.Duration
	// LateFraction of the hits get an event time LateBy earlier than their
	// place in the stream (late records).
	LateFraction float64
	LateBy       time.Duration
	// BadFraction of the records are malformed (not JSON, not an object,
	// missing or bad time, invalid UTF-8).
	BadFraction float64
	// PayloadBytes pads the payload to about this size (0: natural size).
	PayloadBytes int
	// Applications > 0: application_id is drawn uniformly from 1 to
	// Applications (the benchmark of integrations filtering by it); 0: the
	// natural mix of four ids (-1, 1, 7, 42).
	Applications int
}

// Record is one produced record with what the bucket must show for it.
type Record struct {
	Key   []byte
	Value []byte
	// Expect is the manifest entry.
	Expect Expect
}

// Expect is one line of the manifest (package manifest, shared with the
// checker).
type Expect = manifest.Expect

// RejectedID is the manifest ID of a malformed record's value.
func RejectedID(value []byte) string { return manifest.RejectedID(value) }

var (
	attackTypes = []string{"sqli", "xss", "rce", "ptrav", "crlf", "redir", "xxe", "ssrf", "nosqli", "scanner", "brute", "vpatch"}
	methods     = []string{"GET", "GET", "GET", "POST", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH"}
	protocols   = []string{"http/1.1", "http/1.1", "http/2.0", "none"}
	countries   = []string{"US", "DE", "PL", "BR", "CN", "RU", "NL", "IN", "FR", "GB"}
	datacenters = []string{"unknown", "unknown", "aws", "gcp", "azure", "hetzner"}
	tors        = []string{"none", "none", "none", "exit"}
	domains     = []string{"shop.example.com", "api.example.com", "localhost", "www.example.org"}
	payloads    = map[string][]string{
		"sqli":    {"1' OR '1'='1", "1 UNION SELECT password FROM users--", "admin'--"},
		"xss":     {"<script>alert(1)</script>", "\"><img src=x onerror=alert(1)>"},
		"rce":     {";cat /etc/passwd", "$(id)", "`uname -a`"},
		"ptrav":   {"/etc/passwd", "../../../../etc/shadow", "..%2f..%2fwin.ini"},
		"crlf":    {"%0d%0aSet-Cookie:x=1"},
		"redir":   {"//evil.example.net/", "https://evil.example.net"},
		"xxe":     {"<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>"},
		"ssrf":    {"http://169.254.169.254/latest/meta-data/", "http://127.0.0.1:22/"},
		"nosqli":  {"{\"$ne\":null}", "{\"$gt\":\"\"}"},
		"scanner": {"sqlmap/1.7", "nikto"},
		"brute":   {"password=123456", "password=qwerty"},
		"vpatch":  {"/wp-admin/install.php"},
	}
	points = [][]string{{"uri"}, {"get", "id"}, {"post", "form_urlencoded", "password"}, {"header", "USER-AGENT"}, {"post", "json_doc", "hash", "query"}}
)

// Generate returns the records of a batch.
func Generate(o Options) []Record {
	r := rand.New(rand.NewPCG(o.Seed, o.Seed^0x9e3779b97f4a7c15))
	out := make([]Record, 0, o.Count)
	startMs := o.Start.UnixMilli()
	for i := 0; i < o.Count; i++ {
		pos := startMs
		if o.Count > 0 {
			pos += int64(float64(o.Span.Milliseconds()) * float64(i) / float64(o.Count))
		}
		if o.Jitter > 0 {
			pos += r.Int64N(2*o.Jitter.Milliseconds()+1) - o.Jitter.Milliseconds()
		}
		if o.LateFraction > 0 && r.Float64() < o.LateFraction {
			pos -= o.LateBy.Milliseconds()
		}
		if o.BadFraction > 0 && r.Float64() < o.BadFraction {
			out = append(out, bad(r, i, pos))
			continue
		}
		out = append(out, hit(r, o, i, pos))
	}
	return out
}

func pick[T any](r *rand.Rand, s []T) T { return s[r.IntN(len(s))] }

var naturalApps = []int{-1, 1, 7, 42}

// appID draws an application id: one of naturalApps, or 1..n when n > 0
// (one draw either way).
func appID(r *rand.Rand, n int) int {
	if n > 0 {
		return 1 + r.IntN(n)
	}
	return pick(r, naturalApps)
}

func hit(r *rand.Rand, o Options, i int, ms int64) Record {
	at := pick(r, attackTypes)
	block := "monitored"
	status := 200
	switch x := r.IntN(10); {
	case x < 5:
		block, status = "blocked", 403
	case x < 9:
		block, status = "monitored", pick(r, []int{200, 404, 499, 500})
	default:
		block, status = "passed", 200
	}
	id := fmt.Sprintf("%016x%016x", r.Uint64(), uint64(i))
	p := pick(r, payloads[at])
	if o.PayloadBytes > len(p) {
		p += strings.Repeat("A", o.PayloadBytes-len(p))
	}
	var country any
	if r.IntN(5) > 0 {
		country = pick(r, countries)
	}
	uri := "/" + pick(r, []string{"login", "api/v1/users", "search", "index.php", "etc/passwd"})
	if r.IntN(2) == 0 {
		uri += "?q=" + strconv.Itoa(r.IntN(1000))
	}
	sec := ms / 1000
	var t any = strconv.FormatInt(sec, 10) // as in the seed: a string
	if r.IntN(4) == 0 {
		t = sec // also seen as a number
	}
	h := map[string]any{
		"time":           t,
		"request_id":     id,
		"ip":             fmt.Sprintf("%d.%d.%d.%d", 1+r.IntN(223), r.IntN(256), r.IntN(256), 1+r.IntN(254)),
		"datacenter":     pick(r, datacenters),
		"tor":            pick(r, tors),
		"remote_country": country,
		"application_id": []int{appID(r, o.Applications)},
		"domain":         pick(r, domains),
		"method":         pick(r, methods),
		"uri":            uri,
		"protocol":       pick(r, protocols),
		"status_code":    status,
		"attack_type":    at,
		"block_status":   block,
		"payload":        []string{p},
		"point":          pick(r, points),
		"tags": map[string]any{
			"lom_id":             r.IntN(20),
			"libproton_version":  "4.4.11",
			"brute_counter":      fmt.Sprintf("%032x", r.Uint64()),
			"wallarm_mode":       pick(r, []string{"monitoring", "block"}),
			"final_wallarm_mode": pick(r, []string{"monitoring", "block"}),
		},
	}
	v := marshalOrdered(h)
	return Record{Key: []byte(id), Value: v, Expect: Expect{ID: id, Valid: true, TimeMillis: sec * 1000}}
}

// fieldOrder is the seed's field order; maps are written in it so generated
// hits look like the vendor's.
var fieldOrder = []string{"time", "request_id", "ip", "datacenter", "tor", "remote_country", "application_id",
	"domain", "method", "uri", "protocol", "status_code", "attack_type", "block_status", "payload", "point", "tags"}

func marshalOrdered(h map[string]any) []byte {
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range fieldOrder {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		vb, _ := json.Marshal(h[k])
		b.Write(kb)
		b.WriteByte(':')
		b.Write(vb)
	}
	b.WriteByte('}')
	return []byte(b.String())
}

func bad(r *rand.Rand, i int, ms int64) Record {
	var v []byte
	var reason string
	switch r.IntN(6) {
	case 0:
		v, reason = []byte(fmt.Sprintf("not json at all #%d %x", i, r.Uint64())), "not_json"
	case 1:
		v, reason = []byte(fmt.Sprintf(`[{"time":"%d","n":%d}]`, ms/1000, i)), "not_object"
	case 2:
		v, reason = []byte(fmt.Sprintf(`{"request_id":"nt-%d-%x","ip":"10.0.0.1"}`, i, r.Uint64())), "missing_time"
	case 3:
		v, reason = []byte(fmt.Sprintf(`{"time":"yesterday","request_id":"bt-%d-%x"}`, i, r.Uint64())), "bad_time"
	case 4:
		v, reason = []byte(fmt.Sprintf(`{"time":"%d","request_id":"u8-%d-%x","uri":"/%s"}`, ms/1000, i, r.Uint64(), "\xff\xfe")), "invalid_utf8"
	default:
		v, reason = []byte(fmt.Sprintf(`{"time":"%d","request_id":"tr-%d-%x"`, ms/1000, i, r.Uint64())), "not_json"
	}
	return Record{Key: []byte(fmt.Sprintf("bad-%d", i)), Value: v, Expect: Expect{ID: RejectedID(v), Reason: reason}}
}
