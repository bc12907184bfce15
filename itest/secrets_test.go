//go:build integration

package itest

// TestSecrets runs every command of the exporter with distinctive S3
// credentials — against a versitygw of the test's own whose root keys are
// those values — through working and failing configurations and an S3
// outage, and searches everything the process shows for them: every log
// line (debug level included), every error message, the /metrics, /readyz
// and /healthz bodies. The secret (and the access key, which the exporter
// also treats as secret) must never appear, raw or encoded.

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hitexport/hitexport/gen"
)

func secretHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// shown is everything the exporter showed in one step.
type shown struct {
	what string
	text string
}

func TestSecrets(t *testing.T) {
	// S3 secret keys may hold '/', '+' and '='; the access key is uppercase.
	ak := "HXAK" + strings.ToUpper(secretHex(t, 8))
	sk := "hxSecret/" + secretHex(t, 12) + "+Zz="
	akWrong := "HXWRONGAK" + strings.ToUpper(secretHex(t, 6))
	skWrong := "hxWrongSecret/" + secretHex(t, 12) + "+Qq="
	needles := map[string]string{}
	for name, v := range map[string]string{"secret key": sk, "access key": ak, "wrong secret key": skWrong, "wrong access key": akWrong} {
		needles[name] = v
		needles[name+" (base64)"] = base64.StdEncoding.EncodeToString([]byte(v))
		needles[name+" (URL-escaped)"] = url.QueryEscape(v)
		needles[name+" (hex)"] = hex.EncodeToString([]byte(v))
	}

	s3 := startPrivateS3(t, ak, sk)
	good := s3.svc()
	e := newEnvOn(t, 2, good)
	recs := gen.Generate(pastHour(11, 1500))
	e.produce(recs)
	var out []shown
	add := func(what, text string) { out = append(out, shown{what, text}) }

	// command runs `hitexport args` to the end and returns its output and exit code.
	command := func(what string, s svc, extra map[string]string, args ...string) int {
		t.Helper()
		cfg := s.env()
		for k, v := range extra {
			cfg[k] = v
		}
		limit := 2 * time.Minute
		if strings.HasPrefix(what, "replay") {
			limit = 15 * time.Second // a replay against a refusing S3 retries until stopped
		}
		ctx, cancel := context.WithTimeout(context.Background(), limit)
		defer cancel()
		cmd := exec.CommandContext(ctx, binary, args...)
		cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
		cmd.WaitDelay = 10 * time.Second
		cmd.Env = e.baseEnv(cfg)
		b, err := cmd.CombinedOutput()
		add(what, string(b))
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return code
	}
	wrongSecret := good
	wrongSecret.sk = skWrong
	wrongAccess := good
	wrongAccess.ak = akWrong
	unreachable := good
	unreachable.s3 = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	dir := t.TempDir()
	skFile := filepath.Join(dir, "s3-secret-key")
	if err := os.WriteFile(skFile, []byte(sk+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	viaFile := good
	viaFile.sk = ""

	// check: working, wrong secret, wrong access key, unreachable, secret
	// from a file, a missing secret file, an invalid setting next to the secret.
	expect := func(what string, code, want int) {
		if (want == 0) != (code == 0) {
			t.Errorf("%s: exit code %d, want %d:\n%s", what, code, want, out[len(out)-1].text)
		}
	}
	expect("check ok", command("check ok", good, nil, "check"), 0)
	expect("check wrong secret", command("check wrong secret", wrongSecret, nil, "check"), 1)
	expect("check wrong access key", command("check wrong access key", wrongAccess, nil, "check"), 1)
	expect("check unreachable S3", command("check unreachable S3", unreachable, nil, "check"), 1)
	expect("check secret file", command("check secret file", viaFile, map[string]string{"HITEXPORT_S3_SECRET_KEY_FILE": skFile}, "check"), 0)
	expect("check missing secret file", command("check missing secret file", viaFile,
		map[string]string{"HITEXPORT_S3_SECRET_KEY_FILE": filepath.Join(dir, "missing")}, "check"), 2)
	expect("check bad format", command("check bad format", good, map[string]string{"HITEXPORT_FORMAT": "yaml"}, "check"), 2)
	expect("check bad window", command("check bad window", good, map[string]string{"HITEXPORT_WINDOW": "7m"}, "check"), 2)

	// run with a wrong secret: every upload fails (SignatureDoesNotMatch).
	debug := map[string]string{"HITEXPORT_LOG_LEVEL": "debug", "HITEXPORT_RETRY_SCHEDULE": "100ms,200ms;500ms", "HITEXPORT_SHUTDOWN_TIMEOUT": "3s"}
	xw := e.runX("run wrong secret", wrongSecret, debug)
	aw := xw.httpAddr(t)
	deadline := time.Now().Add(time.Minute)
	for xw.hub.msgs("upload failed; offsets stay uncommitted and consumption of the partition is paused until it succeeds") < 6 {
		if time.Now().After(deadline) {
			t.Fatalf("run with a wrong secret: no failing uploads:\n%s", tail(xw.out.String(), 3000))
		}
		time.Sleep(100 * time.Millisecond)
	}
	scrapeAll := func(what, addr string) {
		for _, p := range []string{"/metrics", "/readyz", "/healthz"} {
			code, body, err := httpGet(addr, p)
			if err != nil {
				t.Fatalf("%s %s: %v", what, p, err)
			}
			add(fmt.Sprintf("%s %s (%d)", what, p, code), body)
		}
	}
	// Not ready once an upload failed past its first retry cycle (several
	// uploads are in flight at once, so the first failures may all still be
	// in their first cycle).
	for {
		code, body, _ := httpGet(aw, "/readyz")
		if code == 503 && strings.Contains(body, "last_error") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("run with a wrong secret: /readyz %d %s, want 503 with the last error", code, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	scrapeAll("run wrong secret", aw)
	xw.stop(t, 30*time.Second)
	add("run wrong secret: log", xw.out.String())

	// run with the right keys, debug logging, an S3 outage in the middle.
	x := e.runX("run", good, debug)
	addr := x.httpAddr(t)
	deadline = time.Now().Add(time.Minute)
	for x.hub.msgs("object uploaded") < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("run: no uploads:\n%s", tail(x.out.String(), 3000))
		}
		time.Sleep(100 * time.Millisecond)
	}
	scrapeAll("run", addr)
	s3.stop()
	more := gen.Generate(pastHour(12, 800))
	e.produce(more)
	deadline = time.Now().Add(time.Minute)
	for {
		code, _, _ := httpGet(addr, "/readyz")
		if code == 503 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("run: /readyz never 503 while S3 was down:\n%s", tail(x.out.String(), 3000))
		}
		time.Sleep(200 * time.Millisecond)
	}
	scrapeAll("run, S3 down", addr)
	expect("check while S3 is down", command("check while S3 is down", good, nil, "check"), 1)
	s3.start()
	e.waitCommitted(2*time.Minute, x.exporter)
	scrapeAll("run, S3 back", addr)
	x.stop(t, 30*time.Second)
	add("run: log", x.out.String())

	// verify, replay and offsets, with the right and the wrong secret.
	all := append(append([]gen.Record(nil), recs...), more...)
	manifest := filepath.Join(dir, "manifest.ndjson")
	var mb strings.Builder
	for _, r := range all {
		fmt.Fprintf(&mb, `{"id":%q,"valid":%v,"time_ms":%d,"reason":%q}`+"\n", r.Expect.ID, r.Expect.Valid, r.Expect.TimeMillis, r.Expect.Reason)
	}
	if err := os.WriteFile(manifest, []byte(mb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	expect("verify ok", command("verify ok", good, nil, "verify", "-manifest", manifest), 0)
	expect("verify wrong secret", command("verify wrong secret", wrongSecret, nil, "verify"), 1)
	from := time.Now().Add(-2 * time.Hour).UTC().Format(time.RFC3339)
	command("replay dry run", good, map[string]string{"HITEXPORT_KEY_PREFIX": "replay/"}, "replay", "--from", from, "--dry-run")
	command("replay wrong secret", wrongSecret, map[string]string{"HITEXPORT_KEY_PREFIX": "replay/", "HITEXPORT_RETRY_SCHEDULE": "100ms;100ms", "HITEXPORT_SHUTDOWN_TIMEOUT": "2s"},
		"replay", "--from", from, "--partitions", "0")
	command("offsets", good, nil, "offsets")

	// The search.
	scanned := 0
	for _, s := range out {
		scanned += len(s.text)
		for name, v := range needles {
			if strings.Contains(s.text, v) {
				t.Errorf("%s: the %s appears in what the exporter showed", s.what, name)
			}
		}
	}
	if t.Failed() {
		return
	}
	t.Logf("searched %d outputs (%d KiB: logs at debug level, error messages, /metrics, /readyz, /healthz) for %d forms of 4 credentials: none found",
		len(out), scanned>>10, len(needles))
	// The failing steps really failed on the credentials.
	for _, s := range out {
		if (s.what == "check wrong secret" || s.what == "check wrong access key") && !strings.Contains(s.text, "FAIL") {
			t.Errorf("%s did not fail a step:\n%s", s.what, s.text)
		}
		if testing.Verbose() && strings.HasPrefix(s.what, "check wrong") {
			t.Logf("%s:\n%s", s.what, s.text)
		}
	}
}
