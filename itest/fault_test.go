//go:build integration

package itest

// The fault suite (make test-faults; FAULT_SIZE=small|large): every scenario
// runs against the real Kafka broker and the real S3 server, keeps producing
// hits while the fault happens, and ends with the invariant checker: every
// valid hit exactly once in the object of its window, every malformed record
// in a rejected object with its reason, committed offsets at the end offsets.
// README's guarantee promises exactly once in the bucket for each of these
// cases, so zero duplicates is asserted too.

import (
	"context"
	"encoding/json"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/hitexport/hitexport/gen"
	"github.com/hitexport/hitexport/pipeline"
	"github.com/hitexport/hitexport/store"
	"github.com/hitexport/hitexport/verify"
)

// TestFaultKill kills the exporter with SIGKILL over and over while hits keep
// arriving, restarting it each time. The kills are aimed with the S3 proxy:
// during an upload (the PUT body half sent), between upload and commit (the
// server stored the object, its 200 is held back, the process dies before it
// knows), right after an "object uploaded" log line, and at random moments.
func TestFaultKill(t *testing.T) {
	faultParallel(t)
	sz, seed := sizeOf(t), faultSeed(t)
	t.Logf("size %s, seed %d (FAULT_SEED to replay)", sz.name, seed)
	r := rng(seed)
	began := time.Now()
	e := newEnvOn(t, sz.killParts, sharedSvc())
	px := newS3Proxy(t, s3Addr)
	s := sharedSvc()
	s.s3 = px.addr
	recs := minuteData(seed, sz.killHits, 40*time.Minute, 600)
	f := e.feed(brokers, recs, sz.killFeed)
	extra := faultExtra(nil)

	modes := []string{"in-upload", "uploaded-not-committed", "after-log-line", "random"}
	aimed := map[string]int{}
	var joins []time.Duration // start to "generation joined", after a kill
	beatCommit := 0           // after-log-line kills that landed before the commit
	missed := map[string]int{}
	var all []*xproc
	for k := 0; k < sz.kills; k++ {
		x := e.runX(fmt.Sprintf("exporter-%d", k), s, extra)
		t0 := time.Now()
		joined := x.hub.next(`"msg":"generation joined"`)
		all = append(all, x)
		mode := modes[r.IntN(len(modes))]
		ok := true
		var line string
		switch mode {
		case "in-upload":
			px.set(armStallBody)
			_, ok = px.wait("stalled", 40*time.Second)
			time.Sleep(time.Duration(r.IntN(100)) * time.Millisecond)
		case "uploaded-not-committed":
			px.set(armHoldResponse)
			_, ok = px.wait("held-response", 40*time.Second)
		case "after-log-line":
			select {
			case line = <-x.hub.next(`"msg":"object uploaded"`):
			case <-time.After(40 * time.Second):
				ok = false
			}
		case "random":
			time.Sleep(time.Duration(200+r.IntN(5000)) * time.Millisecond)
		}
		if x.exited() {
			t.Fatalf("%s exited by itself:\n%s", x.name, tail(x.out.String(), 3000))
		}
		x.kill()
		px.releaseAll()
		if line != "" && beforeCommit(e, line) {
			beatCommit++
		}
		join := "not joined"
		select {
		case l := <-joined:
			if m := logTimeRe.FindStringSubmatch(l); m != nil {
				if at, err := time.Parse(time.RFC3339Nano, m[1]); err == nil {
					join = "joined after " + at.Sub(t0).Round(10*time.Millisecond).String()
					if k > 0 {
						joins = append(joins, at.Sub(t0))
					}
				}
			}
		default:
		}
		if testing.Verbose() {
			t.Logf("kill %d: %s (aimed %v) after %s, %s", k, mode, ok, time.Since(t0).Round(10*time.Millisecond), join)
		}
		if ok {
			aimed[mode]++
		} else {
			missed[mode]++
		}
	}
	killsDone := time.Since(began)
	x := e.runX("exporter-final", s, extra)
	all = append(all, x)
	f.finish(5 * time.Minute)
	e.waitCommitted(3*time.Minute, x.exporter)
	// The probe behind "before the commit" must say "committed" for an
	// upload whose commit surely landed.
	if l := lastLine(x.out.String(), `"msg":"object uploaded"`); l == "" || beforeCommit(e, l) {
		t.Errorf("beforeCommit misjudges a committed upload: %q", l)
	}
	x.stop(t, 30*time.Second)

	superseded, uploaded := 0, 0
	for _, p := range all {
		superseded += p.hub.msgs("object already in the bucket with as many or more records; not overwritten")
		uploaded += p.hub.msgs("object uploaded")
	}
	rep := e.check(f.produced(), time.Minute)
	notes := fmt.Sprintf("%d SIGKILLs in %s (aimed: %v, of the after-log-line kills %d before the commit; no upload to aim at: %v); %d objects uploaded, %d writes skipped as already in the bucket",
		sz.kills, killsDone.Round(time.Second), fmtCounts(aimed), beatCommit, fmtCounts(missed), uploaded, superseded)
	faultResult(t, "kill -9 x"+fmt.Sprint(sz.kills), rep, time.Since(began), notes)
	mustOK(t, rep, all[len(all)-3:]...)
	// A killed member's partitions move after HITEXPORT_KAFKA_SESSION_TIMEOUT
	// (6 s here), not after kafka-go's default 30 s.
	sort.Slice(joins, func(i, j int) bool { return joins[i] < joins[j] })
	if len(joins) > 0 && joins[len(joins)/2] > 15*time.Second {
		t.Errorf("median time from restart to partitions assigned is %s: the session timeout did not apply", joins[len(joins)/2])
	}
	if aimed["in-upload"] == 0 || aimed["uploaded-not-committed"] == 0 {
		t.Errorf("no kill landed during an upload or between upload and commit: %v", aimed)
	}
}

// TestFaultS3Outage stops the S3 server (a private versitygw, scripts/s3.sh
// stop) for longer than the first retry cycle while hits keep arriving, then
// starts it again. While it is down: memory stays bounded (VmRSS sampled),
// consumption pauses (hitexport_partition_paused = 1, records consumed stop
// growing, the group's lag grows), /readyz answers 503; after it is back
// /readyz answers 200 and nothing is lost.
func TestFaultS3Outage(t *testing.T) {
	faultParallel(t)
	sz, seed := sizeOf(t), faultSeed(t)
	t.Logf("size %s, seed %d", sz.name, seed)
	began := time.Now()
	s3 := startPrivateS3(t, accessKey, secretKey)
	s := s3.svc()
	const parts = 2
	e := newEnvOn(t, parts, s)
	const payload = 3000
	recs := minuteData(seed, sz.outageHits+sz.outageBurst, 40*time.Minute, payload)
	before, during := recs[:sz.outageHits], recs[sz.outageHits:]
	e.produce(before)
	extra := faultExtra(map[string]string{
		"HITEXPORT_FETCH_BUFFER":   "100",
		"HITEXPORT_SPOOL_MEMORY":   "1048576",
		"HITEXPORT_RETRY_SCHEDULE": "250ms,500ms,1s;2s,3s",
	})
	firstCycle := 1750 * time.Millisecond
	x := e.runX("exporter", s, extra)
	addr := x.httpAddr(t)
	deadline := time.Now().Add(2 * time.Minute)
	for x.hub.msgs("object uploaded") < 3 {
		if time.Now().After(deadline) || x.exited() {
			t.Fatalf("no uploads before the outage:\n%s", tail(x.out.String(), 3000))
		}
		time.Sleep(100 * time.Millisecond)
	}
	rss0 := x.rssKiB()
	lag := func() int64 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		offs, err := verify.Offsets(ctx, e.client, e.group, e.topic)
		if err != nil {
			return -1
		}
		var l int64
		for _, o := range offs {
			c := max(o.Committed, 0)
			l += o.End - c
		}
		return l
	}

	// Down.
	s3.stop()
	down := time.Now()
	f := e.feed(brokers, during, sz.outage*2/3)
	lag0 := lag()
	var (
		rssPeak                   = rss0
		saw503, sawAllPaused      bool
		at503                     time.Time
		reason503                 string
		consumedAllPaused         = -1.0
		consumedEnd, maxPausedSum float64
	)
	for time.Since(down) < sz.outage {
		if r := x.rssKiB(); r > rssPeak {
			rssPeak = r
		}
		code, body, err := httpGet(addr, "/readyz")
		if err == nil && code == 503 && !saw503 {
			saw503, at503, reason503 = true, time.Now(), body
		}
		if m, _, err := scrape(addr); err == nil {
			paused := m.sum("hitexport_partition_paused")
			maxPausedSum = max(maxPausedSum, paused)
			consumedEnd = m.sum("hitexport_records_consumed_total")
			if paused == parts && !sawAllPaused {
				sawAllPaused, consumedAllPaused = true, consumedEnd
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	lag1 := lag()
	// From the first failed attempt (its log line) to the first 503 seen.
	first503 := time.Duration(-1)
	if l := firstLine(x.out.String(), `"msg":"upload failed`); l != "" && saw503 {
		if m := logTimeRe.FindStringSubmatch(l); m != nil {
			if at, err := time.Parse(time.RFC3339Nano, m[1]); err == nil {
				first503 = at503.Sub(at)
			}
		}
	}
	code, _, _ := httpGet(addr, "/readyz")
	lateCode := code

	// Up again.
	s3.start()
	up := time.Now()
	ready := time.Duration(-1)
	for time.Since(up) < time.Minute {
		if code, _, err := httpGet(addr, "/readyz"); err == nil && code == 200 {
			ready = time.Since(up)
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	f.finish(3 * time.Minute)
	e.waitCommitted(3*time.Minute, x.exporter)
	m, _, _ := scrape(addr)
	x.stop(t, 30*time.Second)
	rep := e.check(append(append([]gen.Record(nil), before...), f.produced()...), time.Minute)

	producedDown := int64(len(during)) * int64(payload+600) >> 20
	notes := fmt.Sprintf("S3 down %s (first retry cycle %s): /readyz 503 %s after the first failed upload, partitions paused %v/%d, records consumed after all paused +%.0f, group lag %d -> %d; VmRSS %d MiB before, peak %d MiB while ~%d MiB were produced; /readyz 200 %s after S3 came back; %.0f failed upload attempts",
		sz.outage, firstCycle, first503.Round(10*time.Millisecond), maxPausedSum, parts, consumedEnd-consumedAllPaused,
		lag0, lag1, rss0>>10, rssPeak>>10, producedDown, ready.Round(10*time.Millisecond), m.sum("hitexport_upload_failures_total"))
	faultResult(t, "S3 outage", rep, time.Since(began), notes)
	mustOK(t, rep, x)
	if !saw503 || !strings.Contains(reason503, "first retry cycle") || lateCode != 503 {
		t.Errorf("/readyz while S3 was down: saw 503 %v (%q), at the end of the outage %d", saw503, reason503, lateCode)
	}
	if !sawAllPaused {
		t.Errorf("hitexport_partition_paused never reached %d (max %v)", parts, maxPausedSum)
	} else if consumedEnd != consumedAllPaused {
		t.Errorf("records consumed grew from %.0f to %.0f while every partition was paused", consumedAllPaused, consumedEnd)
	}
	if lag1 <= lag0 {
		t.Errorf("group lag did not grow while S3 was down: %d -> %d", lag0, lag1)
	}
	// Bounded by configuration, not by traffic: far less than what arrived.
	const boundMiB = 32
	if grew := (rssPeak - rss0) >> 10; grew > boundMiB || producedDown < 2*boundMiB {
		t.Errorf("VmRSS grew by %d MiB while S3 was down (bound %d MiB, %d MiB produced meanwhile)", grew, boundMiB, producedDown)
	}
	if ready < 0 {
		t.Errorf("/readyz not 200 within a minute after S3 came back")
	}
}

// TestFaultKafkaRestart stops the broker (a private Kafka, scripts/kafka.sh
// stop) in the middle of the stream — records consumed but not committed,
// objects open, uploads going on — keeps it down longer than the session
// timeout, and starts it again. Producing pauses while the broker is down
// (a producer without idempotence could write a record twice when its ack is
// lost, which would show up as a duplicate that is not the exporter's).
func TestFaultKafkaRestart(t *testing.T) {
	faultParallel(t)
	sz, seed := sizeOf(t), faultSeed(t)
	t.Logf("size %s, seed %d", sz.name, seed)
	began := time.Now()
	k := startPrivateKafka(t)
	t.Logf("private Kafka on %s ready after %s", k.addr, time.Since(began).Round(time.Second))
	s := sharedSvc()
	s.kafka = k.addr
	e := newEnvOn(t, 3, s)
	// Uploads are slowed down (each PUT waits 300 ms at the proxy) so that
	// the exporter lags behind the producer: when the broker stops, records
	// are waiting in Kafka, objects are open and uploads are in flight.
	px := newS3Proxy(t, s3Addr)
	px.slow(300 * time.Millisecond)
	s.s3 = px.addr
	recs := minuteData(seed, sz.kafkaHits, 40*time.Minute, 600)
	f := e.feed(k.addr, recs, 20*time.Second)
	x := e.runX("exporter", s, faultExtra(nil))
	addr := x.httpAddr(t)
	deadline := time.Now().Add(2 * time.Minute)
	for x.hub.msgs("object uploaded") < 5 {
		if time.Now().After(deadline) || x.exited() {
			t.Fatalf("no uploads before the broker stop:\n%s", tail(x.out.String(), 3000))
		}
		time.Sleep(100 * time.Millisecond)
	}
	f.pause()
	producedAtStop := f.count()
	m0, _, _ := scrape(addr)
	stopAt := time.Now()
	k.stop()
	stopped := time.Since(stopAt)
	time.Sleep(sz.kafkaDown)
	restartAt := time.Now()
	k.start()
	restarted := time.Since(restartAt)
	px.slow(0)
	f.resume()
	if x.exited() {
		t.Fatalf("the exporter exited while the broker was down:\n%s", tail(x.out.String(), 3000))
	}
	f.finish(3 * time.Minute)
	e.waitCommitted(3*time.Minute, x.exporter)
	m1, _, _ := scrape(addr)
	x.stop(t, 30*time.Second)
	rep := e.check(f.produced(), time.Minute)
	notes := fmt.Sprintf("broker stopped when %.0f of the %d records produced so far were consumed and %.0f objects uploaded (stop took %s), down %s, start took %s; generations joined %v -> %v, commit errors %v, fetch warnings %d, offset-fetch retries %d, %d writes skipped as already in the bucket",
		m0.sum("hitexport_records_consumed_total"), producedAtStop, m0.sum("hitexport_objects_uploaded_total"), stopped.Round(100*time.Millisecond), sz.kafkaDown,
		restarted.Round(100*time.Millisecond), m0.sum("hitexport_generations_total"), m1.sum("hitexport_generations_total"),
		m1.val("hitexport_commits_total", "result", "error"), x.hub.msgs("fetch failed; retrying"), x.hub.msgs("reading committed offsets failed; retrying"),
		x.hub.msgs("object already in the bucket with as many or more records; not overwritten"))
	faultResult(t, "Kafka restart", rep, time.Since(began), notes)
	mustOK(t, rep, x)
	if m1.sum("hitexport_generations_total") <= m0.sum("hitexport_generations_total") {
		t.Errorf("the exporter did not join a new generation after the broker restart")
	}
}

// TestFaultSigterm sends SIGTERM while the exporter is busy (a backlog of
// many windows, an upload in flight): it must exit within SHUTDOWN_TIMEOUT
// plus a small margin — once with an upload that finishes within the timeout
// (it is completed and committed), once with an upload held back longer than
// the timeout (it is cancelled, its records stay uncommitted) — and a
// restart must lose nothing.
func TestFaultSigterm(t *testing.T) {
	faultParallel(t)
	sz, seed := sizeOf(t), faultSeed(t)
	t.Logf("size %s, seed %d", sz.name, seed)
	began := time.Now()
	e := newEnvOn(t, 2, sharedSvc())
	px := newS3Proxy(t, s3Addr)
	s := sharedSvc()
	s.s3 = px.addr
	recs := minuteData(seed, sz.termHits, 40*time.Minute, 600)
	f := e.feed(brokers, recs, 30*time.Second)
	const timeout = 5 * time.Second
	const margin = 3 * time.Second
	extra := faultExtra(map[string]string{"HITEXPORT_SHUTDOWN_TIMEOUT": timeout.String()})
	var all []*xproc
	var times []string
	for round, hold := range []time.Duration{time.Second, 3 * timeout} {
		x := e.runX(fmt.Sprintf("exporter-%d", round), s, extra)
		all = append(all, x)
		px.set(armStallBody)
		ev, ok := px.wait("stalled", time.Minute)
		if !ok {
			t.Fatalf("no upload to stop during:\n%s", tail(x.out.String(), 3000))
		}
		go func() { time.Sleep(hold); px.releaseAll() }()
		took := x.stop(t, timeout+margin)
		completed := x.hub.msgs("object uploaded")
		cancelled := strings.Contains(x.out.String(), "shutdown timeout: cancelling in-flight uploads")
		times = append(times, fmt.Sprintf("upload held %s: exit after %s (timeout cancelled it: %v)", hold, took.Round(10*time.Millisecond), cancelled))
		t.Logf("SIGTERM with an upload in flight held %s: exited after %s, %d objects uploaded by this process, in-flight upload cancelled by the timeout: %v",
			hold, took.Round(10*time.Millisecond), completed, cancelled)
		if took > timeout+margin {
			t.Errorf("shutdown took %s, more than SHUTDOWN_TIMEOUT %s + %s", took, timeout, margin)
		}
		if hold > timeout && !cancelled {
			t.Errorf("an upload held past the shutdown timeout was not cancelled:\n%s", tail(x.out.String(), 2000))
		}
		finished := false
		for _, l := range strings.Split(x.out.String(), "\n") {
			finished = finished || (strings.Contains(l, `"msg":"object uploaded"`) && strings.Contains(l, `"key":"`+ev.key+`"`))
		}
		if hold < timeout && (cancelled || !finished) {
			t.Errorf("the upload in flight (%s) could finish within the shutdown timeout but did not (cancelled %v):\n%s", ev.key, cancelled, tail(x.out.String(), 2000))
		}
		px.releaseAll()
	}
	x := e.runX("exporter-final", s, extra)
	all = append(all, x)
	f.finish(3 * time.Minute)
	e.waitCommitted(3*time.Minute, x.exporter)
	took := x.stop(t, timeout+margin)
	times = append(times, fmt.Sprintf("idle: exit after %s", took.Round(10*time.Millisecond)))
	rep := e.check(f.produced(), time.Minute)
	faultResult(t, "SIGTERM", rep, time.Since(began), fmt.Sprintf("SHUTDOWN_TIMEOUT %s; %s", timeout, strings.Join(times, "; ")))
	mustOK(t, rep, all...)
}

// TestFaultRebalance runs three replicas in one group while hits flow, kills
// one (SIGKILL) and adds a fourth, and stages the zombie writer: replica 2's
// next upload is held at its S3 proxy after the uploader read the key, and
// replica 2 is frozen (SIGSTOP) past its session timeout, so its partitions
// move and the new owner writes the same key; then the held PUT is let
// through and replica 2 resumes (SIGCONT). The conditional write must keep
// the new owner's object.
func TestFaultRebalance(t *testing.T) {
	faultParallel(t)
	sz, seed := sizeOf(t), faultSeed(t)
	t.Logf("size %s, seed %d", sz.name, seed)
	began := time.Now()
	const parts = 6
	e := newEnvOn(t, parts, sharedSvc())
	recs := minuteData(seed, sz.rebalHits, 40*time.Minute, 600)
	f := e.feed(brokers, recs, sz.rebalFeed)
	extra := faultExtra(nil)
	proxies := map[string]*s3Proxy{}
	var all []*xproc
	start := func(name string) *xproc {
		px := newS3Proxy(t, s3Addr)
		s := sharedSvc()
		s.s3 = px.addr
		x := e.runX(name, s, extra)
		proxies[name] = px
		all = append(all, x)
		return x
	}
	r1, r2, r3 := start("replica-1"), start("replica-2"), start("replica-3")
	deadline := time.Now().Add(90 * time.Second)
	for r1.hub.msgs("object uploaded") == 0 || r2.hub.msgs("object uploaded") == 0 || r3.hub.msgs("object uploaded") == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the three replicas did not all upload: %d %d %d", r1.hub.msgs("object uploaded"), r2.hub.msgs("object uploaded"), r3.hub.msgs("object uploaded"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	addr2 := r2.httpAddr(t)

	// The zombie: replica 2's next PUT is held, replica 2 frozen.
	p2 := proxies["replica-2"]
	p2.set(armHoldRequest)
	ev, ok := p2.wait("held-request", 60*time.Second)
	if !ok {
		t.Fatalf("replica 2 made no upload to hold:\n%s", tail(r2.out.String(), 3000))
	}
	r2.signal(syscall.SIGSTOP)
	frozen := time.Now()
	zombieLast := ev.hdr.Get("X-Amz-Meta-Last-Offset")
	cond := "If-None-Match: " + ev.hdr.Get("If-None-Match")
	if ev.hdr.Get("If-Match") != "" {
		cond = "If-Match: " + ev.hdr.Get("If-Match")
	}
	t.Logf("replica 2 frozen with its PUT of %s (last offset %s, %s) held", ev.key, zombieLast, cond)
	// Meanwhile one replica dies and one is added.
	r1.kill()
	r4 := start("replica-4")

	// Wait for the new owner to write the same key.
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var owner store.ObjectInfo
	var ownerLast string
	// ownerGone: window layout, the new owner's part was uploaded, merged
	// and removed between two looks (the merge follows a closed window at
	// once); its "object uploaded" line is the evidence then.
	ownerGone := false
	for {
		info, err := e.bucket.Stat(ctx, ev.key)
		if err == nil {
			owner = info
			ownerLast = owner.Metadata["last-offset"]
			break
		}
		if l := uploadedLine(ev.key, r3.exporter, r4.exporter); l != "" && pipeline.IsPendingKey(ev.key) {
			var u struct {
				LastOffset int64 `json:"last_offset"`
			}
			if json.Unmarshal([]byte(l), &u) != nil {
				t.Fatalf("unreadable log line %q", l)
			}
			ownerLast, ownerGone = strconv.FormatInt(u.LastOffset, 10), true
			break
		}
		if ctx.Err() != nil {
			// What the others said of that window, to tell a slow move
			// from a part written under another key.
			win := path.Dir(ev.key) + "/"
			for _, x := range []*xproc{r3, r4} {
				n := 0
				for _, l := range strings.Split(x.out.String(), "\n") {
					if strings.Contains(l, win) && n < 20 {
						t.Logf("%s: %s", x.name, l)
						n++
					}
				}
			}
			t.Fatalf("the new owner did not write %s within 90s (last error %v)", ev.key, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	movedAfter := time.Since(frozen)
	// The zombie's write goes through now, then the zombie wakes up.
	before412 := p2.statusCount(412)
	p2.releaseAll()
	deadline = time.Now().Add(10 * time.Second)
	for p2.statusCount(412) == before412 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	zombie412 := p2.statusCount(412) - before412
	time.Sleep(500 * time.Millisecond)
	after, err := e.bucket.Stat(context.Background(), ev.key)
	// Window layout: the new owner's part may be merged and removed by now
	// (the merge sweep follows a closed window at once).
	afterMerged := ownerGone || store.IsNotFound(err) && pipeline.IsPendingKey(ev.key)
	if err != nil && !afterMerged {
		t.Fatal(err)
	}
	r2.signal(syscall.SIGCONT)
	frozenFor := time.Since(frozen)

	f.finish(3 * time.Minute)
	e.waitCommitted(3*time.Minute, r2.exporter, r3.exporter, r4.exporter)
	m2, _, _ := scrape(addr2)
	var zombieLines []string
	for _, l := range strings.Split(r2.out.String(), "\n") {
		if strings.Contains(l, ev.key) {
			zombieLines = append(zombieLines, l)
		}
	}
	for _, x := range []*xproc{r2, r3, r4} {
		x.stop(t, 30*time.Second)
	}
	final, _ := e.bucket.Stat(context.Background(), ev.key)
	superseded, precondition := 0, 0
	for _, x := range all {
		superseded += x.hub.msgs("object already in the bucket with as many or more records; not overwritten")
	}
	for _, px := range proxies {
		precondition += px.statusCount(412)
	}
	rep := e.check(f.produced(), time.Minute)
	notes := fmt.Sprintf("3 replicas, 6 partitions; replica 1 SIGKILLed, replica 4 added; zombie: replica 2 frozen %s with its PUT of %s (last offset %s, %s) held, new owner wrote it (last offset %s) %s after the freeze, the zombie's PUT then got %d x 412 Precondition Failed, object unchanged: %v (merged and removed since: %v); replica 2 uploads_superseded_total %.0f; all replicas: %d writes skipped as already in the bucket, %d PUTs answered 412",
		frozenFor.Round(100*time.Millisecond), ev.key, zombieLast, cond, ownerLast, movedAfter.Round(100*time.Millisecond), zombie412,
		after.ETag == owner.ETag, afterMerged, m2.sum("hitexport_uploads_superseded_total"), superseded, precondition)
	faultResult(t, "rebalance + zombie", rep, time.Since(began), notes)
	if testing.Verbose() {
		t.Logf("replica 2's log lines about %s:\n%s", ev.key, strings.Join(zombieLines, "\n"))
	}
	mustOK(t, rep, all...)
	zl, _ := strconv.ParseInt(zombieLast, 10, 64)
	ol, _ := strconv.ParseInt(ownerLast, 10, 64)
	if zl <= ol && !afterMerged && after.ETag != owner.ETag {
		t.Errorf("the zombie's object (last offset %d) replaced the new owner's (last offset %d)", zl, ol)
	}
	merged := ownerGone || final.Key == "" && pipeline.IsPendingKey(ev.key) // window layout: a staged part, merged and removed since
	if !merged && final.Metadata["last-offset"] < ownerLast && len(final.Metadata["last-offset"]) <= len(ownerLast) {
		t.Errorf("%s went back from last offset %s to %s", ev.key, ownerLast, final.Metadata["last-offset"])
	}
	// (When the part was merged and removed before the zombie's PUT went
	// through, that PUT created a stale part; the merger drops it as already
	// merged, which mustOK above proves: no hit twice, none missing.)
	if zombie412 == 0 && zl <= ol && !afterMerged {
		t.Errorf("the zombie's conditional PUT was not refused (no 412 seen)")
	}
}

// uploadedLine is the first "object uploaded" log line of any of xs for key.
func uploadedLine(key string, xs ...*exporter) string {
	for _, x := range xs {
		for _, l := range strings.Split(x.out.String(), "\n") {
			if strings.Contains(l, `"object uploaded"`) && strings.Contains(l, `"key":"`+key+`"`) {
				return l
			}
		}
	}
	return ""
}

// beforeCommit reports whether the process that wrote an "object uploaded"
// line died before committing that object: the group's commit for the
// partition neither lies past the object's last offset nor lists the
// object's span in its resume state (the commit metadata).
func beforeCommit(e *env, line string) bool {
	var l struct {
		Partition   int   `json:"partition"`
		FirstOffset int64 `json:"first_offset"`
		LastOffset  int64 `json:"last_offset"`
	}
	if json.Unmarshal([]byte(line), &l) != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := e.client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: e.group, Topics: map[string][]int{e.topic: {l.Partition}}})
	if err != nil || len(resp.Topics[e.topic]) != 1 {
		return false
	}
	p := resp.Topics[e.topic][0]
	committed := p.CommittedOffset > l.LastOffset || strings.Contains(p.Metadata, fmt.Sprintf(":%d:%d", l.FirstOffset, l.LastOffset))
	return !committed
}

// firstLine is the first line of out containing substr.
func firstLine(out, substr string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, substr) {
			return l
		}
	}
	return ""
}

// fmtCounts renders counts as "a:1 b:2" ("none" when empty).
func fmtCounts(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	var parts []string
	for _, k := range sortedKeys(m) {
		parts = append(parts, fmt.Sprintf("%s:%d", k, m[k]))
	}
	return strings.Join(parts, " ")
}

// lastLine is the last line of out containing substr.
func lastLine(out, substr string) string {
	ls := strings.Split(out, "\n")
	for i := len(ls) - 1; i >= 0; i-- {
		if strings.Contains(ls[i], substr) {
			return ls[i]
		}
	}
	return ""
}

var logTimeRe = regexp.MustCompile(`^\{"time":"([^"]+)"`)

var _ = context.Background
var _ = strings.Contains
var _ = syscall.SIGKILL
var _ verify.Report
