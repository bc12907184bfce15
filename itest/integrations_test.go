//go:build integration

// The integrations feature end to end, on the real Kafka broker and two real
// S3 servers with different credentials (the shared one and a private one):
// the exporter runs with the Kafka registry, integrations are driven through
// the admin API, and every bucket is read back and compared with what was
// produced, filtered by the integration's filter (a reference
// implementation of the filter semantics below, independent of the
// product's matcher).
//
// Scenarios:
//
//   - TestExportIntegrationsThreeAndOutage: three integrations (json/none,
//     ndjson/gzip, ocsf/zstd; filters application_id, domain, everything) on
//     two S3 servers: exact buckets, rejected records in the deployment's
//     bucket; then the private server stopped ITG_OUTAGE (default 30s) while
//     hits keep coming: the others' freshness is measured (ISOLATION line),
//     the stopped one is "failing", and after the restart it catches up
//     (CATCHUP line) with nothing lost or doubled; hitexport verify
//     --integration and --rejected agree.
//   - TestExportIntegrationsLifecycle: add while running (start latest and
//     earliest), disable/produce/enable, delete (204, objects stay, group
//     gone, nothing more).
//   - TestExportIntegrationsKill: SIGKILL with integrations at different
//     positions (one failing behind a broken proxy): exact afterwards.
//   - TestExportIntegrationsAutoDisable: wrong keys, short FAILURE_WINDOW:
//     auto_disabled with a reason, metric, log line, one webhook event;
//     fixed keys + enable resume and deliver everything.
package itest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hitexport/hitexport/gen"
	"github.com/hitexport/hitexport/kafkaadmin"
	"github.com/hitexport/hitexport/pipeline"
	"github.com/hitexport/hitexport/store"
	"github.com/hitexport/hitexport/verify"
)

// itgWindow is the window of the integration scenarios: short, so objects
// of hits with current timestamps appear within seconds.
const itgWindow = 10 * time.Second

// itgDeploy is one deployment with the Kafka registry: its topic, group and
// own bucket (rejected records) from env, a registry topic, a secrets key
// and an admin token of its own.
type itgDeploy struct {
	t        *testing.T
	e        *env
	regTopic string
	keyFile  string
	tokFile  string
	token    string
	extra    map[string]string
	x        *xproc
	admin    string // host:port of the admin API of x
}

func newItgDeploy(t *testing.T, parts int, extra map[string]string) *itgDeploy {
	t.Helper()
	e := newEnv(t, parts)
	dir := t.TempDir()
	d := &itgDeploy{t: t, e: e, regTopic: "itest.registry." + e.name, keyFile: filepath.Join(dir, "secrets.key"),
		tokFile: filepath.Join(dir, "admin.token"), token: fmt.Sprintf("tok-%032x", time.Now().UnixNano())}
	if err := os.WriteFile(d.keyFile, []byte(strings.Repeat("5a", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(d.tokFile, []byte(d.token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d.extra = map[string]string{
		"HITEXPORT_REGISTRY":              "kafka",
		"HITEXPORT_REGISTRY_TOPIC":        d.regTopic,
		"HITEXPORT_SECRETS_KEY_FILE":      d.keyFile,
		"HITEXPORT_ADMIN_ADDR":            "127.0.0.1:0",
		"HITEXPORT_ADMIN_TOKEN_FILE":      d.tokFile,
		"HITEXPORT_WINDOW":                itgWindow.String(),
		"HITEXPORT_ALLOWED_LATENESS":      "2s",
		"HITEXPORT_IDLE_TIMEOUT":          "2s",
		"HITEXPORT_LATE_MAX_AGE":          "5s",
		"HITEXPORT_KAFKA_SESSION_TIMEOUT": "6s",
		"HITEXPORT_RETRY_SCHEDULE":        "200ms,500ms,1s;1s,2s",
		"HITEXPORT_SHUTDOWN_TIMEOUT":      "10s",
	}
	for k, v := range extra {
		d.extra[k] = v
	}
	return d
}

// cliEnv is the configuration of the one-shot commands (verify,
// integrations) on this deployment.
func (d *itgDeploy) cliEnv() map[string]string {
	m := map[string]string{}
	for k, v := range d.extra {
		m[k] = v
	}
	delete(m, "HITEXPORT_ADMIN_ADDR")
	m["HITEXPORT_ADMIN_URL"] = "http://" + d.admin
	return m
}

var adminAddrRe = regexp.MustCompile(`"msg":"admin API listening"[^\n]*"addr":"([^"]+)"`)

// start starts an exporter and waits for its admin API.
func (d *itgDeploy) start(name string) *xproc {
	d.t.Helper()
	x := d.e.runX(name, sharedSvc(), d.extra)
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if m := adminAddrRe.FindStringSubmatch(x.out.String()); m != nil {
			d.x, d.admin = x, m[1]
			return x
		}
		if x.exited() {
			d.t.Fatalf("%s exited at start:\n%s", name, tail(x.out.String(), 3000))
		}
		time.Sleep(50 * time.Millisecond)
	}
	d.t.Fatalf("%s: no admin API line\n%s", name, tail(x.out.String(), 3000))
	return nil
}

// api calls the admin API; it returns the status and the body.
func (d *itgDeploy) api(method, path string, body any) (int, []byte) {
	d.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			d.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "http://"+d.admin+path, rd)
	if err != nil {
		d.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+d.token)
	req.Header.Set("Content-Type", "application/json")
	c := &http.Client{Timeout: 60 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		d.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// itgView is the admin API's resource as the tests read it.
type itgView struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Enabled bool   `json:"enabled"`
	Status  struct {
		State        string `json:"state"`
		Reason       string `json:"reason"`
		LastDelivery *struct {
			Key string `json:"key"`
		} `json:"last_delivery"`
		LastError *struct {
			Class   string `json:"class"`
			Message string `json:"message"`
		} `json:"last_error"`
		FailureRatio float64 `json:"failure_ratio"`
		LagRecords   int64   `json:"lag_records"`
	} `json:"status"`
}

// itgSpec is an integration of a scenario and where its objects are.
type itgSpec struct {
	name        string
	s           svc
	bucket      *store.S3
	prefix      string
	format      string
	compression string
	match       map[string][]any
	start       string
	notify      string
	id          string // after create
}

func (d *itgDeploy) body(sp *itgSpec) map[string]any {
	b := map[string]any{
		"name": sp.name,
		"destination": map[string]any{"endpoint": sp.s.s3, "bucket": sp.bucket.Name(),
			"access_key": sp.s.ak, "secret_key": sp.s.sk},
		"format": sp.format, "compression": sp.compression, "key_prefix": sp.prefix,
		"start": sp.start,
	}
	if sp.match != nil {
		b["filter"] = map[string]any{"match": sp.match}
	}
	if sp.notify != "" {
		b["notify_url"] = sp.notify
	}
	return b
}

// create adds the integration through the admin API (201) and waits until
// its position is resolved (its group has a committed offset on every
// partition): from then on it receives what its start says.
func (d *itgDeploy) create(sp *itgSpec) {
	d.t.Helper()
	code, out := d.api("POST", "/api/v1/integrations", d.body(sp))
	if code != 201 {
		d.t.Fatalf("create %s: %d %s", sp.name, code, out)
	}
	if bytes.Contains(out, []byte(sp.s.sk)) {
		d.t.Fatalf("create %s: the secret key is in the response", sp.name)
	}
	var v itgView
	if err := json.Unmarshal(out, &v); err != nil || v.ID == "" {
		d.t.Fatalf("create %s: %v %s", sp.name, err, out)
	}
	sp.id = v.ID
	d.waitPositioned(d.group(sp))
}

func (d *itgDeploy) group(sp *itgSpec) string { return d.e.group + "." + sp.id }

// waitPositioned waits until group has a committed offset on every partition.
func (d *itgDeploy) waitPositioned(group string) {
	d.t.Helper()
	waitFor(d.t, 60*time.Second, "a position of group "+group, func() bool {
		c, ok := d.committed(group)
		if !ok {
			return false
		}
		for _, o := range c {
			if o < 0 {
				return false
			}
		}
		return true
	}, d.x.exporter)
}

// committed returns the group's committed offsets (-1: none).
func (d *itgDeploy) committed(group string) (map[int]int64, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	parts := make([]int, d.e.parts)
	for i := range parts {
		parts[i] = i
	}
	c, err := kafkaadmin.FetchCommitted(ctx, d.e.client, group, d.e.topic, parts)
	if err != nil {
		return nil, false
	}
	out := map[int]int64{}
	for p, o := range c {
		out[p] = o.Offset
	}
	return out, true
}

func (d *itgDeploy) get(id string) itgView {
	d.t.Helper()
	code, out := d.api("GET", "/api/v1/integrations/"+id, nil)
	if code != 200 {
		d.t.Fatalf("get %s: %d %s", id, code, out)
	}
	var v itgView
	if err := json.Unmarshal(out, &v); err != nil {
		d.t.Fatal(err)
	}
	return v
}

func (d *itgDeploy) patch(id string, body map[string]any) itgView {
	d.t.Helper()
	code, out := d.api("PATCH", "/api/v1/integrations/"+id, body)
	if code != 200 {
		d.t.Fatalf("patch %s: %d %s", id, code, out) // not the body: it may hold keys
	}
	var v itgView
	if err := json.Unmarshal(out, &v); err != nil {
		d.t.Fatal(err)
	}
	return v
}

// waitRemoved waits until the data plane has removed the integration from
// every partition (a disable or delete is applied asynchronously: the
// registry's change reaches the exporter through its watch).
func (d *itgDeploy) waitRemoved(sp *itgSpec) {
	d.t.Helper()
	waitFor(d.t, 30*time.Second, sp.name+" removed from every partition", func() bool {
		n := 0
		for _, l := range strings.Split(d.x.out.String(), "\n") {
			if strings.Contains(l, `"msg":"target removed from the partition"`) && strings.Contains(l, `"integration":"`+sp.id+`"`) {
				n++
			}
		}
		return n >= d.e.parts
	}, d.x.exporter)
}

// waitDone waits until group has committed every partition to its end.
func (d *itgDeploy) waitDone(group string, timeout time.Duration) {
	d.t.Helper()
	waitFor(d.t, timeout, "group "+group+" committed to the end", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		offs, err := verify.Offsets(ctx, d.e.client, group, d.e.topic)
		if err != nil {
			return false
		}
		for _, o := range offs {
			if !o.Done() {
				return false
			}
		}
		return true
	}, d.x.exporter)
}

// check waits for the integration's group to commit to the end, then
// compares its bucket (under its prefix) with exp, exactly: every expected
// hit once, nothing else, no rejected record.
func (d *itgDeploy) check(sp *itgSpec, exp []gen.Expect, timeout time.Duration) verify.Report {
	d.t.Helper()
	d.waitDone(d.group(sp), timeout)
	return d.exact(sp.name, sp.bucket, sp.prefix, d.group(sp), exp)
}

// checkRejected compares the deployment's bucket with the rejected records
// of recs (and nothing else).
func (d *itgDeploy) checkRejected(recs []gen.Record, timeout time.Duration) verify.Report {
	d.t.Helper()
	g := d.e.group + ".rejected"
	d.waitDone(g, timeout)
	var exp []gen.Expect
	for _, r := range recs {
		if !r.Expect.Valid {
			exp = append(exp, r.Expect)
		}
	}
	return d.exact("rejected", d.e.bucket, "", g, exp)
}

func (d *itgDeploy) exact(what string, b store.Bucket, prefix, group string, exp []gen.Expect) verify.Report {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := verify.ReadBucket(ctx, b, prefix)
	// Window layout (the default): the parts are staged before the commits
	// and merged after them; wait until no staged part or merge manifest is
	// left (as verify -wait does) before judging.
	for deadline := time.Now().Add(time.Minute); err == nil && len(c.Pending) > 0 && time.Now().Before(deadline); {
		time.Sleep(500 * time.Millisecond)
		c, err = verify.ReadBucket(ctx, b, prefix)
	}
	if err != nil {
		d.t.Fatalf("%s: read bucket: %v", what, err)
	}
	rep := verify.Compare(c, exp, itgWindow)
	var offs []verify.PartitionOffsets
	if group != "" {
		if offs, err = verify.Offsets(ctx, d.e.client, group, d.e.topic); err != nil {
			d.t.Fatal(err)
		}
	}
	if group != "" {
		rep.CheckOffsets(offs)
	}
	d.t.Logf("RESULT integration=%s expected_hits=%d expected_rejected=%d hits_in_bucket=%d rejected_in_bucket=%d duplicates=%d missing=%d unexpected=%d wrong_window=%d objects=%d",
		what, rep.ProducedValid, rep.ProducedRejected, rep.HitsInBucket, rep.RejectedInBucket, rep.Duplicates, rep.Missing, rep.Unexpected, rep.WrongWindow, rep.Objects)
	if !rep.OK() || rep.HitsInBucket != rep.ProducedValid || rep.RejectedInBucket != rep.ProducedRejected {
		var logs string
		if d.x != nil {
			logs = tail(d.x.out.String(), 3000)
		}
		d.t.Fatalf("%s: bucket not exact: %+v\n%s", what, rep, logs)
	}
	return rep
}

// ---------------------------------------------------------------- filter reference

// refMatch is the contract's filter semantics, written plainly: for every
// field of match, the hit's top-level value (or, for an array, one of its
// elements) equals one of the listed values (JSON equality of numbers and
// strings, no coercion); null matches null or a missing field.
func refMatch(value []byte, match map[string][]any) bool {
	if len(match) == 0 {
		return true
	}
	var h map[string]any
	dec := json.NewDecoder(bytes.NewReader(value))
	dec.UseNumber()
	if err := dec.Decode(&h); err != nil {
		return false
	}
	for field, listed := range match {
		v, present := h[field]
		cands := []any{v}
		if arr, ok := v.([]any); ok {
			cands = arr
		}
		ok := false
		for _, l := range listed {
			if l == nil && (!present || v == nil) {
				ok = true
			}
			for _, c := range cands {
				if jsonEq(c, l) {
					ok = true
				}
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func jsonEq(hit, listed any) bool {
	switch l := listed.(type) {
	case string:
		s, ok := hit.(string)
		return ok && s == l
	case int:
		n, ok := hit.(json.Number)
		if !ok {
			return false
		}
		i, err := n.Int64()
		return err == nil && i == int64(l)
	case nil:
		return hit == nil
	}
	return false
}

// expect is the manifest of the valid hits of recs that match.
func expect(match map[string][]any, recs ...[]gen.Record) []gen.Expect {
	var out []gen.Expect
	for _, rs := range recs {
		for _, r := range rs {
			if r.Expect.Valid && refMatch(r.Value, match) {
				out = append(out, r.Expect)
			}
		}
	}
	return out
}

func concat(recs ...[]gen.Record) []gen.Record {
	var out []gen.Record
	for _, r := range recs {
		out = append(out, r...)
	}
	return out
}

// recentData is n records whose event times run over the span ending now
// minus 5 s (1% late by 20 s, 1% malformed).
func recentData(seed uint64, n int, span time.Duration) []gen.Record {
	end := time.Now().Add(-5 * time.Second)
	return gen.Generate(gen.Options{Seed: seed, Count: n, Start: end.Add(-span), Span: span, Jitter: 2 * time.Second,
		LateFraction: 0.01, LateBy: 20 * time.Second, BadFraction: 0.01})
}

// makeBucket creates a bucket on the services s.
func makeBucket(t *testing.T, s svc, name string) *store.S3 {
	t.Helper()
	if len(name) > 63 {
		name = name[:63]
	}
	name = strings.TrimRight(name, "-")
	b, err := store.NewS3(store.S3Options{Endpoint: s.s3, Bucket: name, AccessKey: s.ak, SecretKey: s.sk, Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := retry(ctx, func() error { return b.MakeBucket(ctx) }); err != nil {
		t.Fatalf("make bucket %s: %v", name, err)
	}
	return b
}

// newestWindowEnd is the end of the newest window of the objects under
// prefix (either layout's final objects), and how many there are.
func newestWindowEnd(t *testing.T, b store.Bucket, prefix string) (time.Time, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var newest int64
	n := 0
	err := store.WithPrefix(b, prefix).List(ctx, "", func(o store.ObjectInfo) error {
		// The window layout's staged parts, markers and merge records are
		// not objects for the customer.
		if pipeline.IsCheckKey(o.Key) || pipeline.IsInternalKey(o.Key) {
			return nil
		}
		n++
		if k, ok := pipeline.ParseKey(o.Key); ok && k.Window > newest {
			newest = k.Window
		} else if wk, ok := pipeline.ParseWindowKey(o.Key); ok && wk.Window > newest {
			newest = wk.Window
		}
		return nil
	})
	if err != nil {
		t.Logf("list: %v", err)
	}
	if newest == 0 {
		return time.Time{}, n
	}
	return time.UnixMilli(newest).Add(itgWindow), n
}

func countObjects(t *testing.T, b store.Bucket, prefix string) int {
	_, n := newestWindowEnd(t, b, prefix)
	return n
}

func durEnv(t *testing.T, name string, def time.Duration) time.Duration {
	if s := os.Getenv(name); s != "" {
		v, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("%s=%q: %v", name, s, err)
		}
		return v
	}
	return def
}

// ---------------------------------------------------------------- scenarios

// TestExportIntegrationsThreeAndOutage: three integrations on two S3
// servers, exact buckets; then one server stopped while hits keep coming.
func TestExportIntegrationsThreeAndOutage(t *testing.T) {
	t.Parallel()
	began := time.Now()
	outage := durEnv(t, "ITG_OUTAGE", 30*time.Second)
	priv := startPrivateS3(t, "itgprivatekey", "itg-private-secret-0123")
	// FAILURE_THRESHOLD 1: the stopped integration is failing, never
	// auto-disabled (it had successes in the window); this scenario is about
	// parking and catching up.
	d := newItgDeploy(t, 3, map[string]string{"HITEXPORT_FAILURE_THRESHOLD": "1"})
	d.start("exporter")
	a := &itgSpec{name: "alpha", s: sharedSvc(), bucket: makeBucket(t, sharedSvc(), "ia"+d.e.name), prefix: "waf/a/",
		format: "json", compression: "none", match: map[string][]any{"application_id": {1, 42}}, start: "latest"}
	b := &itgSpec{name: "beta", s: priv.svc(), bucket: makeBucket(t, priv.svc(), "ib"+d.e.name),
		format: "ndjson", compression: "gzip", match: map[string][]any{"domain": {"shop.example.com", "localhost"}}, start: "latest"}
	c := &itgSpec{name: "gamma", s: sharedSvc(), bucket: makeBucket(t, sharedSvc(), "ic"+d.e.name),
		format: "ocsf", compression: "zstd", start: "earliest"}
	for _, sp := range []*itgSpec{a, b, c} {
		d.create(sp)
	}
	d.waitPositioned(d.e.group + ".rejected")

	recs := recentData(101, 6000, 50*time.Second)
	d.e.produce(recs)
	for _, sp := range []*itgSpec{a, b, c} {
		d.check(sp, expect(sp.match, recs), 2*time.Minute)
	}
	d.checkRejected(recs, time.Minute)
	// hitexport verify --integration (by name and by id) and --rejected.
	mf := filepath.Join(t.TempDir(), "manifest.ndjson")
	writeManifest(t, mf, recs)
	for _, who := range []string{a.name, b.id, c.name} {
		out, code := d.e.runCombined(d.cliEnv(), "verify", "--integration", who, "--manifest", mf)
		if code != 0 || !strings.Contains(out, "OK: every invariant holds") {
			t.Fatalf("verify --integration %s: exit %d\n%s", who, code, out)
		}
	}
	if out, code := d.e.runCombined(d.cliEnv(), "verify", "--rejected", "--manifest", mf); code != 0 {
		t.Fatalf("verify --rejected: exit %d\n%s", code, out)
	}
	if out, code := d.e.runCombined(d.cliEnv(), "verify", "--integration", "nosuch", "--manifest", mf); code != 1 || !strings.Contains(out, "no integration") {
		t.Fatalf("verify --integration nosuch: exit %d\n%s", code, out)
	}
	// The checker sees a violation: alpha's bucket against an unfiltered
	// manifest of another integration (beta's ids are not alpha's) fails.
	bmf := filepath.Join(t.TempDir(), "beta.ndjson")
	writeExpect(t, bmf, expect(b.match, recs))
	if out, code := d.e.runCombined(d.cliEnv(), "verify", "--integration", a.name, "--manifest", bmf); code != 1 || !strings.Contains(out, "VIOLATED") {
		t.Fatalf("verify --integration alpha with beta's manifest: exit %d\n%s", code, out)
	}
	t.Logf("phase three-integrations done after %s", time.Since(began).Round(time.Second))

	// The outage: hits with current timestamps keep coming (100/s) from 10 s
	// before the stop to the restart.
	lead := 10 * time.Second
	feedFor := lead + outage
	live := gen.Generate(gen.Options{Seed: 102, Count: int(feedFor/time.Second) * 100, Start: time.Now(), Span: feedFor,
		Jitter: time.Second, BadFraction: 0.01})
	f := d.e.feed(brokers, live, feedFor)
	time.Sleep(lead)
	priv.stop()
	stopped := time.Now()
	freshMax := map[string]time.Duration{}
	newObjs := map[string]int{}
	_, baseA := newestWindowEnd(t, a.bucket, a.prefix)
	_, baseC := newestWindowEnd(t, c.bucket, c.prefix)
	sawFailing, sawParked := false, false
	var failClass string
	// A burst in the middle of the outage (ITG_BURST records, current event
	// times; about half are beta's) overflows beta's queue on every
	// partition (4096 records): it is detached from the shared read
	// (parked) and, after the restart, catches up on its own reader and
	// rejoins.
	burstN := 30000
	if v := os.Getenv("ITG_BURST"); v != "" {
		fmt.Sscan(v, &burstN)
	}
	var burst []gen.Record
	for time.Since(stopped) < outage {
		if burst == nil && time.Since(stopped) > outage/3 {
			burst = gen.Generate(gen.Options{Seed: 103, Count: burstN, Start: time.Now().Add(-5 * time.Second), Span: 5 * time.Second, BadFraction: 0.01})
			d.e.produce(burst)
			t.Logf("burst of %d records produced %s into the outage", burstN, time.Since(stopped).Round(100*time.Millisecond))
		}
		if burst != nil && !sawParked {
			v := d.get(b.id)
			m := mustScrape(t, d.x.httpAddr(t))
			if strings.Contains(v.Status.Reason, "parked") && m.val("hitexport_integration_parked", "integration", b.id) == 1 {
				sawParked = true
				t.Logf("beta parked %s into the outage: %q, lag_records=%d", time.Since(stopped).Round(100*time.Millisecond), v.Status.Reason, v.Status.LagRecords)
			}
		}
		now := time.Now()
		for _, sp := range []*itgSpec{a, c} {
			end, n := newestWindowEnd(t, sp.bucket, sp.prefix)
			if age := now.Sub(end); age > freshMax[sp.name] {
				freshMax[sp.name] = age
			}
			base := baseA
			if sp == c {
				base = baseC
			}
			newObjs[sp.name] = n - base
		}
		if !sawFailing {
			v := d.get(b.id)
			if v.Status.State == "failing" && v.Status.LastError != nil {
				sawFailing, failClass = true, v.Status.LastError.Class
				t.Logf("beta failing after %s: class=%s reason=%q message=%q", time.Since(stopped).Round(100*time.Millisecond),
					failClass, v.Status.Reason, v.Status.LastError.Message)
				for _, other := range []*itgSpec{a, c} {
					if st := d.get(other.id).Status.State; st != "active" {
						t.Errorf("%s is %s while only beta's server is down", other.name, st)
					}
				}
				// One customer's bucket is not a deployment-wide fault.
				addr := d.x.httpAddr(t)
				if r := readyz(t, addr); r.Code != 200 || !r.Ready || r.Degraded {
					t.Errorf("/readyz during beta's outage: %+v", r)
				}
				m := mustScrape(t, addr)
				if m.val("hitexport_integration_failing", "integration", b.id) != 1 ||
					m.val("hitexport_integration_failing", "integration", a.id) != 0 {
					t.Errorf("hitexport_integration_failing: beta %v, alpha %v",
						m.val("hitexport_integration_failing", "integration", b.id), m.val("hitexport_integration_failing", "integration", a.id))
				}
			}
		}
		time.Sleep(time.Second)
	}
	worst := max(freshMax[a.name], freshMax[c.name])
	t.Logf("ISOLATION freshness_max=%s alpha=%s gamma=%s new_objects_alpha=%d new_objects_gamma=%d outage=%s window=%s",
		worst.Round(100*time.Millisecond), freshMax[a.name].Round(100*time.Millisecond), freshMax[c.name].Round(100*time.Millisecond),
		newObjs[a.name], newObjs[c.name], outage, itgWindow)
	if !sawFailing {
		t.Errorf("beta never showed state failing during the outage")
	} else if failClass != "network" && failClass != "timeout" {
		t.Errorf("beta's last_error.class = %q, want network or timeout", failClass)
	}
	// On time: a window closes ALLOWED_LATENESS after its end; with the
	// upload, the newest object is at most a window plus a few seconds old.
	if bound := itgWindow + 15*time.Second; worst > bound {
		t.Errorf("healthy integrations fell behind during the outage: freshness %s > %s", worst, bound)
	}
	if newObjs[a.name] < 2 || newObjs[c.name] < 2 {
		t.Errorf("healthy integrations got too few objects during the outage: %v", newObjs)
	}
	if burstN >= 30000 && !sawParked {
		t.Errorf("beta was never parked (status reason and hitexport_integration_parked) after a burst of %d records", burstN)
	}
	f.finish(time.Minute)
	priv.start()
	restarted := time.Now()
	d.waitDone(d.group(b), 3*time.Minute)
	catchup := time.Since(restarted)
	t.Logf("CATCHUP seconds=%.1f records_during_outage=%d", catchup.Seconds(), len(live)+len(burst))
	if sawParked {
		waitFor(t, 30*time.Second, "beta rejoined the shared read", func() bool {
			for _, l := range strings.Split(d.x.out.String(), "\n") {
				if strings.Contains(l, `"msg":"target caught up and rejoined the shared read"`) && strings.Contains(l, b.id) {
					return true
				}
			}
			return false
		}, d.x.exporter)
	}
	all := concat(recs, live, burst)
	for _, sp := range []*itgSpec{a, b, c} {
		d.check(sp, expect(sp.match, all), 2*time.Minute)
	}
	d.checkRejected(all, time.Minute)
	writeManifest(t, mf, all)
	if out, code := d.e.runCombined(d.cliEnv(), "verify", "--integration", b.name, "--manifest", mf, "--wait", "30s"); code != 0 {
		t.Fatalf("verify --integration beta after the outage: exit %d\n%s", code, out)
	}
	waitFor(t, 30*time.Second, "beta active again", func() bool { return d.get(b.id).Status.State == "active" }, d.x.exporter)
	t.Logf("TestExportIntegrationsThreeAndOutage wall=%s", time.Since(began).Round(time.Second))
}

func writeManifest(t *testing.T, path string, recs []gen.Record) {
	t.Helper()
	exp := make([]gen.Expect, len(recs))
	for i, r := range recs {
		exp[i] = r.Expect
	}
	writeExpect(t, path, exp)
}

func writeExpect(t *testing.T, path string, exp []gen.Expect) {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, e := range exp {
		_ = enc.Encode(e)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestExportIntegrationsLifecycle: add while running (latest, earliest),
// disable/produce/enable, delete.
func TestExportIntegrationsLifecycle(t *testing.T) {
	t.Parallel()
	began := time.Now()
	d := newItgDeploy(t, 2, nil)
	d.start("exporter")
	s := sharedSvc()
	one := &itgSpec{name: "one", s: s, bucket: makeBucket(t, s, "i1"+d.e.name), format: "ndjson", compression: "none", start: "latest"}
	d.create(one)
	d.waitPositioned(d.e.group + ".rejected")
	b1 := recentData(201, 1500, 30*time.Second)
	d.e.produce(b1)
	d.waitDone(d.group(one), time.Minute)

	// Added while running: latest gets only what comes after it, earliest
	// everything.
	late := &itgSpec{name: "late", s: s, bucket: makeBucket(t, s, "i2"+d.e.name), format: "ndjson", compression: "gzip",
		match: map[string][]any{"application_id": {7}}, start: "latest"}
	early := &itgSpec{name: "early", s: s, bucket: makeBucket(t, s, "i3"+d.e.name), format: "json", compression: "zstd", start: "earliest"}
	d.create(late)
	d.create(early)
	b2 := recentData(202, 1500, 30*time.Second)
	d.e.produce(b2)
	d.check(late, expect(late.match, b2), time.Minute)
	d.check(early, expect(nil, b1, b2), time.Minute)
	d.check(one, expect(nil, b1, b2), time.Minute)

	// Disable: nothing sent while disabled; its position stays.
	v := d.patch(one.id, map[string]any{"enabled": false})
	if v.Enabled || v.Status.State != "disabled" {
		t.Fatalf("after disable: %+v", v)
	}
	// The CLI on the same API shows it.
	if out, code := d.e.runCombined(d.cliEnv(), "integrations", "get", "one", "-o", "json"); code != 0 || !strings.Contains(out, `"state": "disabled"`) {
		t.Fatalf("hitexport integrations get one: exit %d\n%s", code, out)
	}
	d.waitRemoved(one)
	objs := countObjects(t, one.bucket, "")
	pos, _ := d.committed(d.group(one))
	b3 := recentData(203, 1500, 30*time.Second)
	d.e.produce(b3)
	d.check(early, expect(nil, b1, b2, b3), time.Minute) // the deployment has read b3
	time.Sleep(5 * time.Second)                          // more than IDLE_TIMEOUT: a disabled one would have flushed
	if n := countObjects(t, one.bucket, ""); n != objs {
		t.Fatalf("disabled integration got objects: %d before, %d after", objs, n)
	}
	if p, _ := d.committed(d.group(one)); fmt.Sprint(p) != fmt.Sprint(pos) {
		t.Fatalf("disabled integration's position moved: %v → %v", pos, p)
	}
	// Enable: resumes where it stopped (b3 delivered).
	if v := d.patch(one.id, map[string]any{"enabled": true}); !v.Enabled {
		t.Fatalf("after enable: %+v", v)
	}
	d.check(one, expect(nil, b1, b2, b3), time.Minute)

	// Delete: 204, objects stay, progress gone, nothing more.
	eobjs := countObjects(t, early.bucket, "")
	if code, out := d.api("DELETE", "/api/v1/integrations/"+early.id, nil); code != 204 {
		t.Fatalf("delete: %d %s", code, out)
	}
	d.waitRemoved(early)
	if code, _ := d.api("GET", "/api/v1/integrations/"+early.id, nil); code != 404 {
		t.Fatalf("get after delete: %d", code)
	}
	waitFor(t, 30*time.Second, "the deleted integration's group gone", func() bool {
		c, ok := d.committed(d.group(early))
		if !ok {
			return false
		}
		for _, o := range c {
			if o >= 0 {
				return false
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		state, members, err := kafkaadmin.DescribeGroup(ctx, d.e.client, d.group(early))
		return err == nil && (state == "Dead" || state == "") && len(members) == 0
	}, d.x.exporter)
	if out, code := d.e.runCombined(d.cliEnv(), "integrations", "list"); code != 0 || strings.Contains(out, "early") ||
		!strings.Contains(out, "late") || !strings.Contains(out, "one") {
		t.Fatalf("hitexport integrations list after the delete: exit %d\n%s", code, out)
	}
	b4 := recentData(204, 1000, 20*time.Second)
	d.e.produce(b4)
	d.check(one, expect(nil, b1, b2, b3, b4), time.Minute)
	d.check(late, expect(late.match, b2, b3, b4), time.Minute)
	time.Sleep(3 * time.Second)
	if n := countObjects(t, early.bucket, ""); n != eobjs {
		t.Fatalf("deleted integration's bucket: %d objects before the delete, %d now", eobjs, n)
	}
	if c, _ := d.committed(d.group(early)); c[0] >= 0 {
		t.Fatalf("the deleted integration's group has commits again: %v", c)
	}
	d.exact("early (deleted)", early.bucket, "", "", expect(nil, b1, b2, b3))
	d.checkRejected(concat(b1, b2, b3, b4), time.Minute)
	t.Logf("TestExportIntegrationsLifecycle wall=%s", time.Since(began).Round(time.Second))
}

// failProxy forwards to an S3 server; when down, it closes every
// connection it gets (a network error for the client).
type failProxy struct {
	addr string
	down atomic.Bool
}

func newFailProxy(t *testing.T, upstream string) *failProxy {
	t.Helper()
	p := &failProxy{}
	rp := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.Out.URL.Scheme, pr.Out.URL.Host, pr.Out.Host = "http", upstream, pr.In.Host
	}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p.down.Load() {
			if hj, ok := w.(http.Hijacker); ok {
				if c, _, err := hj.Hijack(); err == nil {
					c.Close()
					return
				}
			}
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		rp.ServeHTTP(w, r)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return p
}

// TestExportIntegrationsKill: SIGKILL with integrations at different
// positions, one of them failing (its proxy closes every connection).
func TestExportIntegrationsKill(t *testing.T) {
	t.Parallel()
	began := time.Now()
	d := newItgDeploy(t, 3, map[string]string{"HITEXPORT_FAILURE_THRESHOLD": "1"})
	x := d.start("exporter-1")
	s := sharedSvc()
	px := newFailProxy(t, s3Addr)
	ps := svc{kafka: brokers, s3: px.addr, ak: s.ak, sk: s.sk}
	k1 := &itgSpec{name: "k-all", s: s, bucket: makeBucket(t, s, "k1"+d.e.name), format: "ndjson", compression: "gzip", start: "earliest"}
	k2 := &itgSpec{name: "k-app", s: s, bucket: makeBucket(t, s, "k2"+d.e.name), format: "ocsf", compression: "none",
		match: map[string][]any{"application_id": {-1, 7}}, start: "earliest"}
	k3 := &itgSpec{name: "k-failing", s: ps, bucket: makeBucket(t, s, "k3"+d.e.name), format: "json", compression: "zstd",
		match: map[string][]any{"domain": {"api.example.com", "shop.example.com", "www.example.org"}}, start: "earliest"}
	k4 := &itgSpec{name: "k-disabled", s: s, bucket: makeBucket(t, s, "k4"+d.e.name), format: "ndjson", compression: "none", start: "earliest"}
	for _, sp := range []*itgSpec{k1, k2, k3, k4} {
		d.create(sp)
	}
	d.waitPositioned(d.e.group + ".rejected")
	b1 := recentData(301, 3000, 30*time.Second)
	d.e.produce(b1)
	d.waitDone(d.group(k3), time.Minute) // k3 has its first part, then its destination fails
	d.waitDone(d.group(k4), time.Minute) // k4 has b1, then it is disabled
	d.patch(k4.id, map[string]any{"enabled": false})
	d.waitRemoved(k4)
	px.down.Store(true)
	live := gen.Generate(gen.Options{Seed: 302, Count: 3000, Start: time.Now(), Span: 30 * time.Second, Jitter: time.Second, BadFraction: 0.01})
	f := d.e.feed(brokers, live, 30*time.Second)
	waitFor(t, 30*time.Second, "k-failing failing", func() bool { return d.get(k3.id).Status.State == "failing" }, x.exporter)
	// Its uploads fail: a burst overflows its queues (3/4 of the hits are
	// its): it is parked at the kill.
	burst := gen.Generate(gen.Options{Seed: 303, Count: 20000, Start: time.Now().Add(-5 * time.Second), Span: 5 * time.Second, BadFraction: 0.01})
	d.e.produce(burst)
	waitFor(t, 30*time.Second, "k-failing failing and parked", func() bool {
		v := d.get(k3.id)
		return v.Status.State == "failing" && strings.Contains(v.Status.Reason, "parked")
	}, x.exporter)
	time.Sleep(3 * time.Second)
	p1, _ := d.committed(d.group(k1))
	p3, _ := d.committed(d.group(k3))
	p4, _ := d.committed(d.group(k4))
	t.Logf("positions at the kill: k-all %v, k-failing (parked) %v, k-disabled %v", p1, p3, p4)
	x.signal(syscall.SIGKILL)
	<-x.done
	x.done <- nil
	f.finish(time.Minute)
	// The destination works again before the restart: the new process's
	// failure history starts empty, and five failed attempts in a row
	// would auto-disable k-failing (see TestExportIntegrationsAutoDisable);
	// here it must catch up from its parked position.
	px.down.Store(false)
	d.start("exporter-2")
	all := concat(b1, live, burst)
	for _, sp := range []*itgSpec{k1, k2, k3} {
		d.check(sp, expect(sp.match, all), 2*time.Minute)
	}
	if p, _ := d.committed(d.group(k4)); fmt.Sprint(p) != fmt.Sprint(p4) {
		t.Fatalf("k-disabled's position moved while disabled: %v → %v", p4, p)
	}
	d.patch(k4.id, map[string]any{"enabled": true})
	d.check(k4, expect(nil, all), 2*time.Minute)
	d.checkRejected(all, time.Minute)
	t.Logf("TestExportIntegrationsKill wall=%s", time.Since(began).Round(time.Second))
}

// TestExportIntegrationsAutoDisable: wrong keys with a short FAILURE_WINDOW
// → auto_disabled (reason, metric, log line, one webhook event); fixed keys
// and enabled → it delivers everything from where it stopped.
func TestExportIntegrationsAutoDisable(t *testing.T) {
	t.Parallel()
	began := time.Now()
	var mu sync.Mutex
	var events []map[string]any
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev map[string]any
		_ = json.NewDecoder(r.Body).Decode(&ev)
		mu.Lock()
		events = append(events, ev)
		mu.Unlock()
		w.WriteHeader(204)
	}))
	defer hook.Close()
	d := newItgDeploy(t, 2, map[string]string{
		"HITEXPORT_FAILURE_WINDOW":     "20s",
		"HITEXPORT_FAILURE_THRESHOLD":  "0.6",
		"HITEXPORT_AUTO_DISABLE_AFTER": "3s",
		"HITEXPORT_RETRY_SCHEDULE":     "100ms,200ms",
	})
	x := d.start("exporter")
	s := sharedSvc()
	good := &itgSpec{name: "good", s: s, bucket: makeBucket(t, s, "ag"+d.e.name), format: "ndjson", compression: "none", start: "earliest"}
	const wrongSecret = "wrong-secret-key-000111"
	bad := &itgSpec{name: "badkeys", s: svc{kafka: brokers, s3: s.s3, ak: s.ak, sk: wrongSecret}, bucket: makeBucket(t, s, "ab"+d.e.name),
		format: "ndjson", compression: "gzip", match: map[string][]any{"application_id": {42}}, start: "latest", notify: hook.URL + "/hook"}
	d.create(good)
	d.waitPositioned(d.e.group + ".rejected")
	// b0 comes before the integration with wrong keys (start latest): not
	// its; its position is resolved once, so the re-enable neither skips
	// what came while it failed nor goes back to b0.
	b0 := recentData(400, 500, 20*time.Second)
	d.e.produce(b0)
	d.create(bad)
	b1 := recentData(401, 1500, 30*time.Second)
	d.e.produce(b1)
	var v itgView
	waitFor(t, 90*time.Second, "badkeys auto_disabled", func() bool {
		v = d.get(bad.id)
		return v.Status.State == "auto_disabled"
	}, x.exporter)
	if v.Enabled || !strings.Contains(v.Status.Reason, "failed") {
		t.Fatalf("auto-disabled status: %+v", v)
	}
	t.Logf("auto-disabled after %s: reason %q", time.Since(began).Round(100*time.Millisecond), v.Status.Reason)
	addr := x.httpAddr(t)
	waitFor(t, 10*time.Second, "the webhook event", func() bool { mu.Lock(); defer mu.Unlock(); return len(events) > 0 }, x.exporter)
	// produce more while it is auto-disabled: delivered after the re-enable
	b2 := recentData(402, 1000, 20*time.Second)
	d.e.produce(b2)
	d.check(good, expect(nil, b0, b1, b2), time.Minute)
	m := mustScrape(t, addr)
	if got := m.val("hitexport_integration_auto_disabled_total", "integration", bad.id); got != 1 {
		// the series may be deleted when the target is removed: read the log
		t.Errorf("hitexport_integration_auto_disabled_total{integration=%s} = %v, want 1", bad.id, got)
	}
	if n := strings.Count(x.out.String(), `"msg":"integration auto-disabled`); n != 1 {
		t.Errorf("auto-disable log lines: %d, want 1", n)
	}
	mu.Lock()
	if len(events) != 1 || events[0]["state"] != "auto_disabled" || events[0]["id"] != bad.id {
		t.Errorf("webhook events: %v, want one with state auto_disabled", events)
	}
	mu.Unlock()
	if strings.Contains(x.out.String(), wrongSecret) {
		t.Fatal("the secret key is in the log")
	}
	if n := countObjects(t, bad.bucket, ""); n != 0 {
		t.Fatalf("objects in the bucket of the integration with wrong keys: %d", n)
	}
	// Fix the keys and enable: it resumes where it stopped.
	v = d.patch(bad.id, map[string]any{"enabled": true, "destination": map[string]any{"access_key": s.ak, "secret_key": s.sk}})
	if !v.Enabled {
		t.Fatalf("after re-enable: %+v", v)
	}
	d.check(bad, expect(bad.match, b1, b2), 90*time.Second)
	d.checkRejected(concat(b0, b1, b2), time.Minute)
	waitFor(t, 20*time.Second, "badkeys active", func() bool { return d.get(bad.id).Status.State == "active" }, x.exporter)
	mu.Lock()
	t.Logf("webhook events: %v", events)
	mu.Unlock()
	t.Logf("TestExportIntegrationsAutoDisable wall=%s", time.Since(began).Round(time.Second))
}
