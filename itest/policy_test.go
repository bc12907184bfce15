//go:build integration

package itest

// The least-privilege S3 policies in deploy/s3/ are tested here against a real
// S3 server that enforces them: a versitygw instance of the test's own (own
// port, own data and IAM directories, random root keys), never the shared one.
//
//   - TestCheckPolicyBucket: the gateway's internal IAM (--iam-dir) with a
//     plain user and deploy/s3/bucket-policy.json attached to the bucket.
//   - TestCheckPolicyIdentity: the standalone IAM service (versitygw iam) with
//     deploy/s3/hitexport-policy.json attached to the user (PutUserPolicy):
//     the same document MinIO takes with `mc admin policy create`.
//
// Each runs `hitexport check`, a short `hitexport run` checked by the
// invariant checker, and `hitexport verify` with the restricted user, and
// then removes one action at a time to show that it is needed and what check
// says when it is missing.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/signer"

	"github.com/hitexport/hitexport/gen"
	"github.com/hitexport/hitexport/store"
)

// policyBucket and policyPrincipal are the placeholders of the files in
// deploy/s3/; the tests replace them.
const (
	policyBucket    = "hitlogs"
	policyPrincipal = "arn:aws:iam::111122223333:user/hitexport"
)

// gateway is a versitygw S3 server started by one test.
type gateway struct {
	addr       string // host:port of the S3 API
	root       string // root access key
	rootSecret string
	iamAddr    string // host:port of the standalone IAM API ("" with internal IAM)
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// versitygw returns the binary scripts/s3.sh installs, installing it if needed.
func versitygw(t *testing.T) string {
	t.Helper()
	local := os.Getenv("LOCAL_DIR")
	if local == "" {
		local = filepath.Join(repoRoot, ".local")
	}
	bin := filepath.Join(local, "bin", "versitygw")
	if _, err := os.Stat(bin); err != nil {
		if _, err := runScript(t, 10*time.Minute, nil, "s3.sh", "install"); err != nil {
			t.Fatal(err)
		}
	}
	return bin
}

// startProcess starts a server process in its own process group, logging to
// logFile, and stops it (that pid only) when the test ends. The channel is
// closed when the process exits.
func startProcess(t *testing.T, logFile string, env []string, name string, args ...string) <-chan struct{} {
	t.Helper()
	lf, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		lf.Close()
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); lf.Close(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	return done
}

// waitHTTP waits until url answers HTTP at all (any status).
func waitHTTP(t *testing.T, url, logFile string, exited <-chan struct{}) {
	t.Helper()
	c := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(30 * time.Second)
	fail := func(why string) {
		b, _ := os.ReadFile(logFile)
		t.Fatalf("%s %s; log:\n%s", url, why, tail(string(b), 2000))
	}
	for time.Now().Before(deadline) {
		if resp, err := c.Get(url); err == nil {
			resp.Body.Close()
			return
		}
		select {
		case <-exited:
			fail("server exited before it answered")
		case <-time.After(100 * time.Millisecond):
		}
	}
	fail("did not answer within 30s")
}

// startGateway starts versitygw in posix mode with IAM enabled: internal
// IAM in a directory, or (standalone) a separate IAM service the gateway asks
// over a unix socket, which also evaluates identity policies.
func startGateway(t *testing.T, standalone bool) *gateway {
	t.Helper()
	bin := versitygw(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "iam"), 0o755); err != nil {
		t.Fatal(err)
	}
	g := &gateway{addr: fmt.Sprintf("127.0.0.1:%d", freePort(t)), root: "root" + randomHex(t, 6), rootSecret: randomHex(t, 20)}
	// Keys go through the environment, not argv, so ps does not show them.
	keys := []string{"ROOT_ACCESS_KEY=" + g.root, "ROOT_SECRET_KEY=" + g.rootSecret}
	args := []string{"--port", g.addr, "--quiet"}
	if standalone {
		g.iamAddr = fmt.Sprintf("127.0.0.1:%d", freePort(t))
		sock := filepath.Join(dir, "iam.sock")
		iamLog := filepath.Join(dir, "iam.log")
		exited := startProcess(t, iamLog, keys, bin, "--port", g.iamAddr, "--health", "/healthz", "--quiet",
			"iam", "--dir", filepath.Join(dir, "iam"), "--private-ports", sock)
		waitHTTP(t, "http://"+g.iamAddr+"/healthz", iamLog, exited)
		args = append(args, "--iam-standalone-endpoint", sock)
	} else {
		args = append(args, "--iam-dir", filepath.Join(dir, "iam"))
	}
	gwLog := filepath.Join(dir, "gateway.log")
	exited := startProcess(t, gwLog, keys, bin, append(args, "posix", data)...)
	waitHTTP(t, "http://"+g.addr+"/", gwLog, exited)
	return g
}

// createUser creates a plain user ("user" role: no access to buckets it
// does not own) in the internal IAM, with the admin CLI.
func (g *gateway) createUser(t *testing.T, access, secret string) {
	t.Helper()
	cmd := exec.Command(versitygw(t), "admin", "--endpoint-url", "http://"+g.addr,
		"create-user", "--access", access, "--secret", secret, "--role", "user")
	cmd.Env = append(os.Environ(), "ADMIN_ACCESS_KEY="+g.root, "ADMIN_SECRET_KEY="+g.rootSecret)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("versitygw admin create-user: %v\n%s", err, out)
	}
}

// iamCall sends one IAM API action, signed with the root keys, and returns the
// XML answer.
func (g *gateway) iamCall(t *testing.T, params url.Values) []byte {
	t.Helper()
	params.Set("Version", "2010-05-08")
	body := params.Encode()
	req, err := http.NewRequest(http.MethodPost, "http://"+g.iamAddr+"/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	req.Header.Set("X-Amz-Content-Sha256", hex.EncodeToString(sum[:]))
	req = signer.SignV4WithServiceType(*req, g.root, g.rootSecret, "", "us-east-1", "iam")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("IAM %s: %v", params.Get("Action"), err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("IAM %s: %s: %s", params.Get("Action"), resp.Status, tail(string(out), 1000))
	}
	return out
}

// createIAMUser creates a user with an access key in the standalone IAM
// service and returns the key.
func (g *gateway) createIAMUser(t *testing.T, name string) (access, secret string) {
	t.Helper()
	g.iamCall(t, url.Values{"Action": {"CreateUser"}, "UserName": {name}})
	out := g.iamCall(t, url.Values{"Action": {"CreateAccessKey"}, "UserName": {name}})
	var r struct {
		Result struct {
			AccessKey struct {
				AccessKeyID     string `xml:"AccessKeyId"`
				SecretAccessKey string `xml:"SecretAccessKey"`
			} `xml:"AccessKey"`
		} `xml:"CreateAccessKeyResult"`
	}
	if err := xml.Unmarshal(out, &r); err != nil || r.Result.AccessKey.AccessKeyID == "" {
		t.Fatalf("CreateAccessKey answer not understood (%v): %d bytes", err, len(out))
	}
	return r.Result.AccessKey.AccessKeyID, r.Result.AccessKey.SecretAccessKey
}

// putUserPolicy attaches (replaces) the user's inline policy.
func (g *gateway) putUserPolicy(t *testing.T, user string, policy []byte) {
	t.Helper()
	g.iamCall(t, url.Values{"Action": {"PutUserPolicy"}, "UserName": {user},
		"PolicyName": {"hitexport"}, "PolicyDocument": {string(policy)}})
}

func (g *gateway) client(t *testing.T, access, secret string) *minio.Client {
	t.Helper()
	c, err := minio.New(g.addr, &minio.Options{Creds: credentials.NewStaticV4(access, secret, ""), Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// policyDoc reads a policy file of deploy/s3/, points it at bucket and, when
// principal is not empty, at that principal, and leaves out the actions in
// drop (a statement left without actions is removed).
func policyDoc(t *testing.T, file, bucket, principal string, drop ...string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot, "deploy", "s3", file))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Version   string           `json:"Version"`
		Statement []map[string]any `json:"Statement"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	var kept []map[string]any
	for _, st := range doc.Statement {
		var actions []any
		for _, a := range st["Action"].([]any) {
			if !slices.Contains(drop, a.(string)) {
				actions = append(actions, a)
			}
		}
		if len(actions) == 0 {
			continue
		}
		st["Action"] = actions
		var res []any
		for _, r := range st["Resource"].([]any) {
			s := r.(string)
			if !strings.HasPrefix(s, "arn:aws:s3:::"+policyBucket) {
				t.Fatalf("%s: resource %q is not in bucket %q", file, s, policyBucket)
			}
			res = append(res, "arn:aws:s3:::"+bucket+strings.TrimPrefix(s, "arn:aws:s3:::"+policyBucket))
		}
		st["Resource"] = res
		if p, ok := st["Principal"]; ok && principal != "" {
			if !strings.Contains(fmt.Sprint(p), policyPrincipal) {
				t.Fatalf("%s: principal %v is not the placeholder %s", file, p, policyPrincipal)
			}
			st["Principal"] = map[string]any{"AWS": []string{principal}}
		}
		kept = append(kept, st)
	}
	doc.Statement = kept
	out, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// policyEnv is a topic on the shared Kafka broker and a bucket, owned by the
// root user, on the test's own gateway.
func policyEnv(t *testing.T, g *gateway, partitions int) *env {
	t.Helper()
	return newEnvOn(t, partitions, svc{kafka: brokers, s3: g.addr, ak: g.root, sk: g.rootSecret})
}

// with returns a copy of e that reports to t (a subtest's): Fatal must be
// called from the goroutine of the test it stops.
func (e *env) with(t *testing.T) *env {
	c := *e
	c.t = t
	return &c
}

// s3Env points the exporter at the gateway with the given keys.
func s3Env(g *gateway, bucket, access, secret string, more ...string) map[string]string {
	m := map[string]string{
		"HITEXPORT_S3_ENDPOINT": g.addr, "HITEXPORT_S3_BUCKET": bucket,
		"HITEXPORT_S3_ACCESS_KEY": access, "HITEXPORT_S3_SECRET_KEY": secret,
	}
	for i := 0; i+1 < len(more); i += 2 {
		m[more[i]] = more[i+1]
	}
	return m
}

// wantCheck runs check and requires the exit code and every line in want.
func (e *env) wantCheck(extra map[string]string, code int, want ...string) string {
	e.t.Helper()
	out, got := e.runCombined(extra, "check")
	e.t.Logf("check (exit %d):\n%s", got, out)
	if got != code {
		e.t.Errorf("check exited %d, want %d", got, code)
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			e.t.Errorf("check output lacks %q", w)
		}
	}
	for _, s := range []string{extra["HITEXPORT_S3_SECRET_KEY"]} {
		if s != "" && strings.Contains(out, s) {
			e.t.Errorf("check output contains the secret key")
		}
	}
	return out
}

// exportAndVerify produces hits, runs the exporter with the restricted keys
// until every offset is committed, checks the bucket with the invariant
// checker, and runs `hitexport verify` with the restricted keys too.
func (e *env) exportAndVerify(s3 map[string]string, seed uint64, n int) {
	e.t.Helper()
	recs := gen.Generate(pastHour(seed, n))
	e.produce(recs)
	x := e.start(s3)
	e.waitCommitted(2*time.Minute, x)
	x.stop(e.t, 30*time.Second)
	if strings.Contains(x.out.String(), "upload failed") {
		e.t.Errorf("the exporter logged failures under the policy:\n%s", tail(x.out.String(), 3000))
	}
	rep := e.check(recs, 10*time.Minute)
	if !rep.OK() || rep.HitsInBucket != rep.ProducedValid || rep.RejectedInBucket != rep.ProducedRejected {
		e.t.Fatalf("invariants violated under the policy: %+v\n%s", rep, tail(x.out.String(), 3000))
	}
	e.t.Logf("run under the policy: %d hits, %d rejected records exported", rep.HitsInBucket, rep.RejectedInBucket)
	out, code := e.runCombined(s3, "verify", "-wait", "30s")
	if code != 0 {
		e.t.Fatalf("hitexport verify with the policy's keys exited %d:\n%s", code, tail(out, 3000))
	}
}

// wantDenied requires err to be S3's AccessDenied.
func wantDenied(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: allowed, want AccessDenied", what)
		return
	}
	if code := minio.ToErrorResponse(err).Code; code != "AccessDenied" {
		t.Errorf("%s: %v (code %q), want AccessDenied", what, err, code)
	}
}

// probeActions exercises, with the restricted keys, a large conditional
// write as the uploader makes it (one PUT past the multipart part size: a
// conditional write is never multipart), and requests the policy must refuse.
func probeActions(t *testing.T, g *gateway, bucket, access, secret string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b, err := store.NewS3(store.S3Options{Endpoint: g.addr, Bucket: bucket, AccessKey: access, SecretKey: secret,
		Region: "us-east-1", PartSize: 5 << 20})
	if err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), (6<<20)/16)
	key := "hitlogs-0-probe-0-0.ndjson"
	if err := b.Put(ctx, key, bytes.NewReader(big), int64(len(big)), store.PutOptions{IfNoneMatch: true,
		Metadata: map[string]string{"last-offset": "0"}}); err != nil {
		t.Errorf("conditional 6 MiB write under the policy: %v", err)
	} else if info, err := b.Stat(ctx, key); err != nil || info.Size != int64(len(big)) {
		t.Errorf("6 MiB object: %+v, %v", info, err)
	}
	// Exported data cannot be deleted, and the bucket and its configuration
	// cannot be changed with these keys.
	core := minio.Core{Client: g.client(t, access, secret)}
	wantDenied(t, "delete an exported object", core.RemoveObject(ctx, bucket, key, minio.RemoveObjectOptions{}))
	_, err = core.GetBucketPolicy(ctx, bucket)
	wantDenied(t, "get bucket policy", err)
	wantDenied(t, "put bucket policy", core.PutBucketPolicy(ctx, bucket, `{"Version":"2012-10-17","Statement":[]}`))
	wantDenied(t, "delete bucket", core.RemoveBucket(ctx, bucket))
}

// policyCases are the checks with one action removed that both tests run.
func policyCases(t *testing.T, e *env, g *gateway, access, secret string, apply func(t *testing.T, drop ...string)) {
	bucket := e.bucket.Name()
	s3 := s3Env(g, bucket, access, secret)

	t.Run("without-PutObject", func(t *testing.T) {
		e := e.with(t)
		apply(t, "s3:PutObject")
		e.wantCheck(s3, 1, "ok   s3 ", fmt.Sprintf("FAIL s3-write cannot write to bucket %q (needs s3:PutObject)", bucket), "AccessDenied")
	})
	t.Run("without-GetObject", func(t *testing.T) {
		e := e.with(t)
		apply(t, "s3:GetObject")
		e.wantCheck(s3, 1, "FAIL s3-write", "cannot read it back (needs s3:GetObject", "AccessDenied")
		// run needs it too: the uploader reads the key's metadata (HEAD)
		// before every conditional write, to fence zombie writers.
		e.produce(gen.Generate(pastHour(11, 50)))
		x := e.start(s3)
		deadline := time.Now().Add(time.Minute)
		for time.Now().Before(deadline) && !strings.Contains(x.out.String(), `"class":"permanent"`) {
			time.Sleep(200 * time.Millisecond)
		}
		out := x.out.String()
		x.kill()
		if !strings.Contains(out, `"class":"permanent"`) || !strings.Contains(out, "stat ") || !strings.Contains(out, "AccessDenied") {
			t.Errorf("run without s3:GetObject: want permanent upload failures on stat (HEAD), got:\n%s", tail(out, 3000))
		}
	})
	t.Run("without-ListBucket", func(t *testing.T) {
		e := e.with(t)
		apply(t, "s3:ListBucket")
		e.wantCheck(s3, 1, "ok   kafka", fmt.Sprintf("FAIL s3       bucket %q: access denied: the keys lack s3:ListBucket", bucket), "AccessDenied")
	})
	t.Run("without-DeleteObject", func(t *testing.T) {
		e := e.with(t)
		// check cleans up its test object only when it may; the exporter
		// never deletes.
		apply(t, "s3:DeleteObject")
		e.wantCheck(s3, 0, "ok   s3-write", "(left in place: delete not permitted)")
	})
	t.Run("missing-bucket", func(t *testing.T) {
		e := e.with(t)
		apply(t)
		e.wantCheck(s3Env(g, bucket+"-absent", access, secret), 1, "FAIL s3")
	})
	t.Run("wrong-secret", func(t *testing.T) {
		e := e.with(t)
		apply(t)
		wrong := s3Env(g, bucket, access, "wrong-"+randomHex(t, 8))
		// A HEAD answer has no body: S3 says 403 without the reason, so check
		// cannot tell a wrong secret from a missing permission here.
		out := e.wantCheck(wrong, 1, "FAIL s3", "access denied", "HITEXPORT_S3_SECRET_KEY are wrong")
		if strings.Contains(out, secret) {
			t.Errorf("check output contains the real secret")
		}
	})
}

// TestCheckPolicyBucket grants a plain user exactly deploy/s3/bucket-policy.json
// on the bucket (internal IAM), then runs check, run and verify with the
// user's keys; then takes each action away.
func TestCheckPolicyBucket(t *testing.T) {
	g := startGateway(t, false)
	access, secret := "hitexport"+randomHex(t, 4), randomHex(t, 20)
	g.createUser(t, access, secret)
	e := policyEnv(t, g, 2)
	bucket := e.bucket.Name()
	rootCore := minio.Core{Client: g.client(t, g.root, g.rootSecret)}
	apply := func(t *testing.T, drop ...string) {
		t.Helper()
		doc := policyDoc(t, "bucket-policy.json", bucket, access, drop...)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := rootCore.PutBucketPolicy(ctx, bucket, string(doc)); err != nil {
			t.Fatalf("put bucket policy: %v", err)
		}
	}
	s3 := s3Env(g, bucket, access, secret)

	// Without the policy the user has no access at all: the test's premise.
	e.wantCheck(s3, 1, "FAIL s3", "AccessDenied")

	apply(t)
	t.Run("policy", func(t *testing.T) {
		e := e.with(t)
		e.wantCheck(s3, 0, "ok   s3 ", "ok   s3-write", "(deleted)")
		e.exportAndVerify(s3, 21, 1500)
		probeActions(t, g, bucket, access, secret)
	})
	policyCases(t, e, g, access, secret, apply)
}

// TestCheckPolicyIdentity attaches deploy/s3/hitexport-policy.json (the IAM
// and MinIO user policy) to a user of the standalone IAM service, with no
// bucket policy, and runs the same checks.
func TestCheckPolicyIdentity(t *testing.T) {
	g := startGateway(t, true)
	user := "hitexport"
	access, secret := g.createIAMUser(t, user)
	e := policyEnv(t, g, 2)
	bucket := e.bucket.Name()
	s3 := s3Env(g, bucket, access, secret)

	// A user without a policy has no access: the test's premise.
	e.wantCheck(s3, 1, "FAIL s3", "AccessDenied")

	apply := func(t *testing.T, drop ...string) {
		t.Helper()
		g.putUserPolicy(t, user, policyDoc(t, "hitexport-policy.json", bucket, "", drop...))
	}
	apply(t)
	t.Run("policy", func(t *testing.T) {
		e := e.with(t)
		e.wantCheck(s3, 0, "ok   s3 ", "ok   s3-write", "(deleted)")
		e.exportAndVerify(s3, 22, 1500)
		probeActions(t, g, bucket, access, secret)
	})
	policyCases(t, e, g, access, secret, apply)
}
