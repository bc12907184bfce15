package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorded is one request an httptest S3 server saw.
type recorded struct {
	Method, Path string
	Header       http.Header
	Body         []byte
}

// recorder is an S3 server that answers 200 to every request and keeps
// them.
type recorder struct {
	mu   sync.Mutex
	reqs []recorded
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rec.mu.Lock()
	rec.reqs = append(rec.reqs, recorded{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body})
	rec.mu.Unlock()
	w.Header().Set("ETag", `"0123456789abcdef0123456789abcdef"`)
	w.WriteHeader(http.StatusOK)
}

func (rec *recorder) puts() []recorded {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var out []recorded
	for _, r := range rec.reqs {
		if r.Method == http.MethodPut {
			out = append(out, r)
		}
	}
	return out
}

func newRecorded(t *testing.T, o S3Options) (*S3, *recorder) {
	t.Helper()
	rec := &recorder{}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	o.Endpoint, o.Bucket, o.Region = u.Host, "bkt", "us-east-1"
	if o.AccessKey == "" {
		o.AccessKey, o.SecretKey = testAccessKey, testSecretKey
	}
	b, err := NewS3(o)
	if err != nil {
		t.Fatal(err)
	}
	return b, rec
}

// Every single PUT is signed with the body's SHA-256 (never the streaming
// aws-chunked signature) and carries x-amz-checksum-crc32c of the body; no
// Content-Encoding is added.
func TestS3PutSignedWithChecksums(t *testing.T) {
	body := bytes.Repeat([]byte(`{"hit":1}`+"\n"), 1000)
	sha := sha256.Sum256(body)
	crc := crc32.Checksum(body, crc32.MakeTable(crc32.Castagnoli))
	wantCRC := base64.StdEncoding.EncodeToString([]byte{byte(crc >> 24), byte(crc >> 16), byte(crc >> 8), byte(crc)})
	for _, tc := range []struct {
		name string
		r    io.Reader
		opts PutOptions
	}{
		{"conditional", bytes.NewReader(body), PutOptions{IfNoneMatch: true, ContentType: "application/gzip", Metadata: map[string]string{"topic": "t"}}},
		{"plain", bytes.NewReader(body), PutOptions{ContentType: "application/x-ndjson"}},
		{"not seekable", io.MultiReader(bytes.NewReader(body)), PutOptions{IfMatch: "abc", ContentType: "application/json"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, rec := newRecorded(t, S3Options{})
			if err := b.Put(context.Background(), "dt=2026-01-01/hitlogs-1-t-0-0.ndjson.gz", tc.r, int64(len(body)), tc.opts); err != nil {
				t.Fatal(err)
			}
			puts := rec.puts()
			if len(puts) != 1 {
				t.Fatalf("%d PUTs, want 1", len(puts))
			}
			p := puts[0]
			if !bytes.Equal(p.Body, body) {
				t.Fatalf("body on the wire differs from the object (%d bytes, want %d): a chunked encoding?", len(p.Body), len(body))
			}
			h := p.Header
			if ce := h.Get("Content-Encoding"); ce != "" {
				t.Errorf("Content-Encoding %q, want none", ce)
			}
			if got := h.Get("X-Amz-Content-Sha256"); got != hex.EncodeToString(sha[:]) {
				t.Errorf("X-Amz-Content-Sha256 %q, want the body's SHA-256", got)
			}
			if got := h.Get("X-Amz-Checksum-Crc32c"); got != wantCRC {
				t.Errorf("x-amz-checksum-crc32c %q, want %q", got, wantCRC)
			}
			if h.Get("X-Amz-Decoded-Content-Length") != "" || h.Get("X-Amz-Trailer") != "" {
				t.Errorf("streaming headers present: %v", h)
			}
			if got := h.Get("Content-Type"); got != tc.opts.ContentType {
				t.Errorf("Content-Type %q, want %q", got, tc.opts.ContentType)
			}
			// The checksum header is signed (S3 requires every x-amz-* header
			// to be).
			auth := h.Get("Authorization")
			if !strings.Contains(auth, "x-amz-checksum-crc32c") || !strings.Contains(auth, "x-amz-content-sha256") {
				t.Errorf("checksum headers not signed: %s", auth)
			}
		})
	}
}

// A body shorter than announced is refused before anything is sent.
func TestS3PutShortBody(t *testing.T) {
	b, rec := newRecorded(t, S3Options{})
	err := b.Put(context.Background(), "k", strings.NewReader("abc"), 10, PutOptions{})
	if err == nil || !strings.Contains(err.Error(), "3 bytes, not the 10") {
		t.Fatalf("short body: %v", err)
	}
	if n := len(rec.puts()); n != 0 {
		t.Fatalf("%d PUTs sent", n)
	}
}

// The SSE option puts the encryption headers on every PUT.
func TestS3PutSSE(t *testing.T) {
	for _, tc := range []struct {
		sse, key     string
		want, wantID string
	}{
		{SSENone, "", "", ""},
		{SSES3, "", "AES256", ""},
		{SSEKMS, "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab", "aws:kms", "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"},
		{SSEKMS, "", "aws:kms", ""},
	} {
		t.Run(tc.sse+tc.key, func(t *testing.T) {
			b, rec := newRecorded(t, S3Options{SSE: tc.sse, SSEKMSKeyID: tc.key})
			if err := b.Put(context.Background(), "k", strings.NewReader("abc"), 3, PutOptions{IfNoneMatch: true}); err != nil {
				t.Fatal(err)
			}
			h := rec.puts()[0].Header
			if got := h.Get("X-Amz-Server-Side-Encryption"); got != tc.want {
				t.Errorf("x-amz-server-side-encryption %q, want %q", got, tc.want)
			}
			if got := h.Get("X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id"); got != tc.wantID {
				t.Errorf("kms key id %q, want %q", got, tc.wantID)
			}
			if tc.want != "" && !strings.Contains(h.Get("Authorization"), "x-amz-server-side-encryption") {
				t.Errorf("SSE header not signed")
			}
		})
	}
	for _, bad := range []S3Options{{SSE: "aes"}, {SSE: SSES3, SSEKMSKeyID: "k"}, {SSEKMSKeyID: "k"}} {
		if _, err := NewS3(S3Options{Endpoint: "127.0.0.1:1", Bucket: "b", AccessKey: "a", SecretKey: "s", SSE: bad.SSE, SSEKMSKeyID: bad.SSEKMSKeyID}); err == nil {
			t.Errorf("NewS3 accepted SSE %q key %q", bad.SSE, bad.SSEKMSKeyID)
		}
	}
}

// stsServer is an STS endpoint that checks AssumeRole requests and hands
// out numbered temporary credentials that expire after ttl.
type stsServer struct {
	t    *testing.T
	ttl  time.Duration
	mu   sync.Mutex
	n    int
	errs []string
	fail string // an error code to answer with
}

func (s *stsServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	bad := func(f string, a ...any) { s.errs = append(s.errs, fmt.Sprintf(f, a...)) }
	if err := r.ParseForm(); err != nil {
		bad("form: %v", err)
	}
	for k, want := range map[string]string{"Action": "AssumeRole", "RoleArn": "arn:aws:iam::111122223333:role/hitexport-writer",
		"ExternalId": "ext-7c1d2e", "RoleSessionName": "hitexport-acme", "DurationSeconds": "900"} {
		if got := r.PostForm.Get(k); got != want {
			bad("%s = %q, want %q", k, got, want)
		}
	}
	auth := r.Header.Get("Authorization")
	if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential="+testAccessKey+"/") || !strings.Contains(auth, "/sts/aws4_request") ||
		!strings.Contains(auth, "Signature=") {
		bad("Authorization %q: not signed by the static key for sts", auth)
	}
	if s.fail != "" {
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprintf(w, `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>%s</Code><Message>not authorized to perform sts:AssumeRole</Message></Error><RequestId>r</RequestId></ErrorResponse>`, s.fail)
		return
	}
	s.n++
	fmt.Fprintf(w, `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult><Credentials>`+
		`<AccessKeyId>ASIATEMP%d</AccessKeyId><SecretAccessKey>tempsecret%d</SecretAccessKey><SessionToken>token%d</SessionToken>`+
		`<Expiration>%s</Expiration></Credentials></AssumeRoleResult></AssumeRoleResponse>`, s.n, s.n, s.n, time.Now().Add(s.ttl).UTC().Format(time.RFC3339Nano))
}

func (s *stsServer) calls() (int, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n, append([]string(nil), s.errs...)
}

// With a role, writes are signed with the role's temporary credentials
// from STS AssumeRole (role ARN, external id, session name, signed with
// the static keys), renewed before they expire.
func TestS3AssumeRole(t *testing.T) {
	sts := &stsServer{t: t, ttl: 4 * time.Second}
	stsSrv := httptest.NewServer(sts)
	defer stsSrv.Close()
	role := AssumeRole{RoleARN: "arn:aws:iam::111122223333:role/hitexport-writer", ExternalID: "ext-7c1d2e",
		SessionName: "hitexport-acme", STSEndpoint: stsSrv.URL, Duration: 15 * time.Minute}
	b, rec := newRecorded(t, S3Options{Role: role})
	ctx := context.Background()
	put := func() {
		if err := b.Put(ctx, "k", strings.NewReader("abc"), 3, PutOptions{IfNoneMatch: true}); err != nil {
			t.Fatal(err)
		}
	}
	put()
	put()
	if n, errs := sts.calls(); n != 1 || len(errs) > 0 {
		t.Fatalf("after two PUTs within the lifetime: %d AssumeRole calls (want 1), request problems %v", n, errs)
	}
	// Past 80% of the 4 s lifetime the next request renews first.
	time.Sleep(3300 * time.Millisecond)
	put()
	if n, errs := sts.calls(); n != 2 || len(errs) > 0 {
		t.Fatalf("after the lifetime's 80%%: %d AssumeRole calls (want 2), request problems %v", n, errs)
	}
	puts := rec.puts()
	want := []struct{ key, token string }{{"ASIATEMP1", "token1"}, {"ASIATEMP1", "token1"}, {"ASIATEMP2", "token2"}}
	for i, p := range puts {
		auth := p.Header.Get("Authorization")
		if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential="+want[i].key+"/") || !strings.Contains(auth, "/s3/aws4_request") {
			t.Errorf("PUT %d signed as %q, want the temporary key %s", i, auth, want[i].key)
		}
		if got := p.Header.Get("X-Amz-Security-Token"); got != want[i].token {
			t.Errorf("PUT %d session token %q, want %q", i, got, want[i].token)
		}
		if strings.Contains(auth, testAccessKey) {
			t.Errorf("PUT %d signed with the static key", i)
		}
	}
	if len(puts) != 3 {
		t.Fatalf("%d PUTs", len(puts))
	}
}

// A refused AssumeRole is a permanent auth/permission error that names
// neither secret nor external id.
func TestS3AssumeRoleRefused(t *testing.T) {
	sts := &stsServer{t: t, ttl: time.Hour, fail: "AccessDenied"}
	stsSrv := httptest.NewServer(sts)
	defer stsSrv.Close()
	b, rec := newRecorded(t, S3Options{Role: AssumeRole{RoleARN: "arn:aws:iam::111122223333:role/hitexport-writer",
		ExternalID: "ext-7c1d2e", SessionName: "hitexport-acme", STSEndpoint: stsSrv.URL, Duration: 15 * time.Minute}})
	err := b.Put(context.Background(), "k", strings.NewReader("abc"), 3, PutOptions{})
	if !IsPermanent(err) || ErrorClass(err) != ClassPermission {
		t.Fatalf("refused AssumeRole: %v (class %s), want permanent permission", err, ErrorClass(err))
	}
	for _, secret := range []string{testSecretKey, "ext-7c1d2e"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error names %q: %v", secret, err)
		}
	}
	if n := len(rec.puts()); n != 0 {
		t.Errorf("%d PUTs reached S3", n)
	}
}

// BenchmarkDigest is the cost of the digests of a PUT (SHA-256 and CRC32C in
// one pass), per byte of object.
func BenchmarkDigest(b *testing.B) {
	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	b.SetBytes(int64(len(data)))
	for i := 0; i < b.N; i++ {
		if _, err := Digest(bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}
