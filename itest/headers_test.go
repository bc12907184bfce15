//go:build integration

package itest

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/signer"

	"github.com/hitexport/hitexport/gen"
	"github.com/hitexport/hitexport/pipeline"
	"github.com/hitexport/hitexport/store"
)

// minioClient is a plain minio-go client of the shared S3 server (for
// presigned URLs and bucket options the store does not offer).
func minioClient(t *testing.T) *minio.Client {
	t.Helper()
	c, err := minio.New(s3Addr, &minio.Options{Creds: credentials.NewStaticV4(accessKey, secretKey, ""), Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// curlCompressed fetches url with `curl --compressed`, the way a user
// downloads a file with an HTTP client that honours Content-Encoding.
func curlCompressed(t *testing.T, url string) []byte {
	t.Helper()
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatalf("curl is needed: %v", err)
	}
	var stderr bytes.Buffer
	cmd := exec.Command("curl", "--compressed", "-sS", "-f", "--max-time", "30", url)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("curl --compressed: %v: %s", err, stderr.String())
	}
	return out
}

// TestExportHeaders runs the exporter for each compression and reads every
// object back as a customer would: the stored Content-Encoding is absent,
// the Content-Type is the file's (application/gzip, application/zstd, or
// the format's), and `curl --compressed` on a presigned URL returns the
// stored bytes, which begin as the extension promises.
func TestExportHeaders(t *testing.T) {
	for _, tc := range []struct {
		format, comp string
		hitType      string // Content-Type of hit objects
		rejType      string // of rejected objects
		hitMagic     []byte // first bytes of hit objects
		rejMagic     []byte
		layout       string // "": the default (window)
	}{
		{"ndjson", "none", "application/x-ndjson", "application/x-ndjson", []byte("{"), []byte("{"), ""},
		{"json", "none", "application/json", "application/x-ndjson", []byte("["), []byte("{"), ""},
		{"ocsf", "none", "application/x-ndjson", "application/x-ndjson", []byte("{"), []byte("{"), ""},
		{"ndjson", "gzip", "application/gzip", "application/gzip", []byte{0x1f, 0x8b}, []byte{0x1f, 0x8b}, ""},
		{"json", "zstd", "application/zstd", "application/zstd", []byte{0x28, 0xb5, 0x2f, 0xfd}, []byte{0x28, 0xb5, 0x2f, 0xfd}, ""},
		{"ndjson", "gzip", "application/gzip", "application/gzip", []byte{0x1f, 0x8b}, []byte{0x1f, 0x8b}, "partition"},
	} {
		name := tc.format + "-" + tc.comp
		extra := map[string]string{"HITEXPORT_FORMAT": tc.format, "HITEXPORT_COMPRESSION": tc.comp}
		if tc.layout != "" {
			name += "-" + tc.layout
			extra["HITEXPORT_LAYOUT"] = tc.layout
		}
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, 2)
			o := pastHour(11, 1500)
			o.Span = 25 * time.Minute
			recs := gen.Generate(o)
			e.produce(recs)
			x := e.start(extra)
			e.waitCommitted(2*time.Minute, x)
			x.stop(t, 30*time.Second)
			if rep := e.check(recs, 10*time.Minute); !rep.OK() || rep.HitsInBucket != rep.ProducedValid || rep.RejectedInBucket != rep.ProducedRejected {
				t.Fatalf("invariants: %+v", rep)
			}
			mc := minioClient(t)
			ctx := context.Background()
			var hitsN, rejN int
			for key, obj := range readObjects(t, e.bucket) {
				if pipeline.IsInternalKey(key) && !pipeline.IsPendingKey(key) {
					continue // the window layout's progress markers and done records (JSON, not the customer's)
				}
				k, ok := pipeline.ParseKey(key)
				if !ok {
					// The window layout's objects: hitlogs-<window s>[_late-NNN]<ext>.
					if _, ok = pipeline.ParseWindowKey(key); !ok {
						t.Fatalf("%s: not an export key", key)
					}
				}
				wantType, magic := tc.hitType, tc.hitMagic
				if k.Kind == pipeline.KindRejected {
					wantType, magic = tc.rejType, tc.rejMagic
					rejN++
				} else {
					hitsN++
				}
				info, err := e.bucket.Stat(ctx, key)
				if err != nil {
					t.Fatal(err)
				}
				if info.ContentEncoding != "" {
					t.Errorf("%s: stored Content-Encoding %q, want none", key, info.ContentEncoding)
				}
				if info.ContentType != wantType {
					t.Errorf("%s: Content-Type %q, want %q", key, info.ContentType, wantType)
				}
				u, err := mc.PresignedGetObject(ctx, e.bucket.Name(), key, 5*time.Minute, nil)
				if err != nil {
					t.Fatal(err)
				}
				got := curlCompressed(t, u.String())
				if !bytes.HasPrefix(got, magic) {
					t.Errorf("%s: curl --compressed returned bytes starting % x, want % x (the %s file)", key, got[:min(len(got), 4)], magic, tc.comp)
				}
				if !bytes.Equal(got, obj.Data) {
					t.Errorf("%s: curl --compressed returned %d bytes, not the stored %d", key, len(got), len(obj.Data))
				}
			}
			if hitsN == 0 || rejN == 0 {
				t.Fatalf("%d hit and %d rejected objects; want both kinds", hitsN, rejN)
			}
			t.Logf("%d hit objects, %d rejected objects checked", hitsN, rejN)
		})
	}
}

// TestExportHeadersHiveTemplate exports with a Hive-style key template, in
// both layouts: every key sits in the dt=/hour= folders of its window start
// (UTC), the checker reads the bucket (in process and as `hitexport
// verify`), and a replay over a deleted window rewrites exactly the same
// keys (window layout: the window's object deleted with its done record,
// as docs/objects.md describes a lost window object; its late objects kept).
func TestExportHeadersHiveTemplate(t *testing.T) {
	for _, layout := range []string{"window", "partition"} {
		t.Run(layout, func(t *testing.T) { testHiveTemplate(t, layout) })
	}
}

func testHiveTemplate(t *testing.T, layout string) {
	const tmpl = "dt={yyyy}-{mm}-{dd}/hour={hh}/hitlogs-{timestamp}{ext}"
	e := newEnv(t, 3)
	o := pastHour(12, 3000)
	recs := gen.Generate(o)
	e.produce(recs)
	extra := map[string]string{"HITEXPORT_KEY_TEMPLATE": tmpl, "HITEXPORT_COMPRESSION": "gzip", "HITEXPORT_LAYOUT": layout}
	x := e.start(extra)
	e.waitCommitted(2*time.Minute, x)
	x.stop(t, 30*time.Second)
	rep := e.check(recs, 10*time.Minute)
	if !rep.OK() || rep.HitsInBucket != rep.ProducedValid || rep.RejectedInBucket != rep.ProducedRejected || rep.ProducedRejected == 0 {
		t.Fatalf("invariants: %+v", rep)
	}
	// Hits: hitlogs-<ts>[_late-NNN].ndjson.gz (window) or
	// hitlogs-<ts>-<topic>-<partition>-<first offset>.ndjson.gz (partition);
	// rejected records are per partition in both.
	part := `-` + regexp.QuoteMeta(e.topic) + `-\d+-\d+`
	hitName := part
	if layout == "window" {
		hitName = `(?:_late-\d{3})?`
	}
	keyRe := regexp.MustCompile(`^(?:dt=(\d{4})-(\d{2})-(\d{2})/hour=(\d{2})/hitlogs-(\d+)` + hitName + `\.ndjson\.gz` +
		`|rejected/dt=(\d{4})-(\d{2})-(\d{2})/hour=(\d{2})/hitlogs-(\d+)` + part + `\.rejected\.ndjson\.gz)$`)
	objs := readObjects(t, e.bucket)
	byWindow := map[int64][]string{}
	for key := range objs {
		if pipeline.IsInternalKey(key) {
			if pipeline.IsPendingKey(key) || layout != "window" {
				t.Fatalf("%s left in the bucket (%s layout)", key, layout)
			}
			continue
		}
		m := keyRe.FindStringSubmatch(key)
		if m == nil {
			t.Fatalf("key %q does not follow the template %s (%s layout)", key, tmpl, layout)
		}
		f, rejected := m[1:6], false
		if m[1] == "" {
			f, rejected = m[6:11], true
		}
		ts, _ := strconv.ParseInt(f[4], 10, 64)
		if want := time.Unix(ts, 0).UTC().Format("2006-01-02/15"); f[0]+"-"+f[1]+"-"+f[2]+"/"+f[3] != want {
			t.Errorf("%s: folders say %s-%s-%s hour %s, the window starts %s UTC", key, f[0], f[1], f[2], f[3], want)
		}
		if !rejected {
			byWindow[ts] = append(byWindow[ts], key)
		}
	}
	t.Logf("%s layout: %d objects in %d windows", layout, len(objs), len(byWindow))

	// hitexport verify reads the foldered keys.
	dir := t.TempDir()
	manifest := filepath.Join(dir, "manifest.ndjson")
	var mb strings.Builder
	for _, r := range recs {
		fmt.Fprintf(&mb, `{"id":%q,"valid":%v,"time_ms":%d,"reason":%q}`+"\n", r.Expect.ID, r.Expect.Valid, r.Expect.TimeMillis, r.Expect.Reason)
	}
	if err := os.WriteFile(manifest, []byte(mb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, code := e.runCombined(extra, "verify", "-manifest", manifest); code != 0 {
		t.Fatalf("hitexport verify: exit %d\n%s", code, tail(out, 3000))
	}

	// Delete the hit objects of one window in the middle (window layout:
	// its object) and replay it.
	var victim int64
	for ts := range byWindow {
		if victim == 0 || (ts > victim && ts < o.Start.Add(40*time.Minute).Unix()) {
			victim = ts
		}
	}
	deleted := map[string]bool{}
	for _, k := range byWindow[victim] {
		if layout == "window" {
			// A lost window object: gone with its done record. Its late
			// objects stay (their done records keep their records out of
			// the replay; a lost late object would come back inside the
			// window's object, not under its own key).
			wk, ok := pipeline.ParseWindowKey(k)
			if !ok {
				t.Fatalf("%s: not a window-layout key", k)
			}
			if wk.Late > 0 {
				continue
			}
			if err := e.bucket.Delete(context.Background(), pipeline.InternalDir+"merged/"+wk.Name()+".json"); err != nil {
				t.Fatal(err)
			}
		}
		if err := e.bucket.Delete(context.Background(), k); err != nil {
			t.Fatal(err)
		}
		deleted[k] = true
	}
	if len(deleted) == 0 {
		t.Fatalf("window %d: no object deleted (%v)", victim, byWindow[victim])
	}
	// The whole topic (Kafka times are the produce times): the objects
	// still in the bucket are found under the template's folders and
	// skipped, the deleted ones come back under their keys.
	from := time.Now().Add(-time.Hour)
	stdout, stderr, code := e.runOnce(extra, "replay", "--from", from.UTC().Format(time.RFC3339))
	if code != 0 {
		t.Fatalf("replay: exit %d\n%s\n%s", code, stdout, tail(stderr, 3000))
	}
	t.Logf("replay:\n%s", stdout)
	want := fmt.Sprintf(" %d objects written, 0 already in the bucket", len(deleted))
	if layout == "window" {
		want = fmt.Sprintf("window layout: 1 merges, %d objects written", len(deleted))
	}
	if !strings.Contains(stdout, want) {
		t.Errorf("replay summary lacks %q: it did not find the foldered objects", want)
	}
	after := readObjects(t, e.bucket)
	for k := range deleted {
		if _, ok := after[k]; !ok {
			t.Errorf("replay did not rewrite %s", k)
		}
	}
	for k, o := range after {
		if pipeline.IsInternalKey(k) {
			continue
		}
		if before, ok := objs[k]; !ok {
			t.Errorf("replay wrote a new key %s", k)
		} else if !deleted[k] && before.ETag != o.ETag {
			t.Errorf("replay rewrote %s, which it found in the bucket", k)
		}
	}
	rep = e.check(recs, 10*time.Minute)
	if rep.Duplicates != 0 || rep.WrongWindow != 0 || rep.Unexpected != 0 || rep.HitsInBucket != rep.ProducedValid {
		t.Fatalf("after replay of window %d (%d objects deleted): %+v", victim, len(deleted), rep)
	}
}

// s3Raw sends a SigV4-signed request to the shared S3 server with the given
// payload hash header (empty: the body's SHA-256) and returns the status and
// the S3 error code.
func s3Raw(t *testing.T, method, path string, body []byte, hdr map[string]string, payloadHash string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+s3Addr+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = int64(len(body))
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	if payloadHash == "" {
		s := sha256.Sum256(body)
		payloadHash = hex.EncodeToString(s[:])
	}
	req.Header.Set("X-Amz-Content-Sha256", payloadHash)
	req = signer.SignV4(*req, accessKey, secretKey, "", "us-east-1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`<Code>([^<]*)</Code>`).FindSubmatch(b)
	code := ""
	if m != nil {
		code = string(m[1])
	}
	return resp.StatusCode, code
}

// corruptOnReread serves data on the first pass and a changed byte after a
// seek back to the start: the bytes that reach the server are not those the
// checksums were computed from (a spool corrupted between the two passes).
type corruptOnReread struct {
	r      *bytes.Reader
	data   []byte
	read   bool // a pass has read bytes
	passes int  // passes started after the first
}

func (c *corruptOnReread) Read(p []byte) (int, error) {
	c.read = true
	return c.r.Read(p)
}

func (c *corruptOnReread) Seek(off int64, whence int) (int64, error) {
	if whence == io.SeekStart && off == 0 && c.read {
		c.passes++
		bad := append([]byte(nil), c.data...)
		bad[len(bad)/2] ^= 0xff
		c.r = bytes.NewReader(bad)
	}
	return c.r.Seek(off, whence)
}

// TestExportHeadersChecksums: the server verifies each checksum a PUT can
// carry (body SHA-256 and CRC32C, which every single PUT of the store
// sends; Content-MD5, which multipart parts send); a body that does not
// match is refused and nothing is stored; multipart writes carry no
// aws-chunked encoding either.
func TestExportHeadersChecksums(t *testing.T) {
	e := newEnv(t, 1)
	ctx := context.Background()
	bucket := e.bucket.Name()
	data := bytes.Repeat([]byte(`{"hit":"x"}`+"\n"), 4096)
	other := append([]byte(nil), data...)
	other[10] = 'y'
	m := md5.Sum(data)
	s := sha256.Sum256(data)
	crc := crc32.Checksum(data, crc32.MakeTable(crc32.Castagnoli))
	crcB64 := base64.StdEncoding.EncodeToString([]byte{byte(crc >> 24), byte(crc >> 16), byte(crc >> 8), byte(crc)})

	// Each checksum on its own, with a body that does not match it.
	for _, c := range []struct {
		name, hash string
		hdr        map[string]string
		code       string
	}{
		{"sha256", hex.EncodeToString(s[:]), nil, "XAmzContentSHA256Mismatch"},
		{"content-md5", "UNSIGNED-PAYLOAD", map[string]string{"Content-Md5": base64.StdEncoding.EncodeToString(m[:])}, "BadDigest"},
		{"crc32c", "UNSIGNED-PAYLOAD", map[string]string{"x-amz-checksum-crc32c": crcB64}, "BadDigest"},
	} {
		status, code := s3Raw(t, http.MethodPut, "/"+bucket+"/bad-"+c.name, other, c.hdr, c.hash)
		if status != http.StatusBadRequest || code != c.code {
			t.Errorf("%s mismatch: status %d code %q, want 400 %s", c.name, status, code, c.code)
		}
		if _, err := e.bucket.Stat(ctx, "bad-"+c.name); !store.IsNotFound(err) {
			t.Errorf("%s mismatch: object stored anyway (%v)", c.name, err)
		}
		// The same request with the matching body is accepted.
		if status, code := s3Raw(t, http.MethodPut, "/"+bucket+"/good-"+c.name, data, c.hdr, c.hash); status != http.StatusOK {
			t.Errorf("%s match: status %d %s", c.name, status, code)
		}
	}

	// Through the store, as the uploader writes: the checksums are taken
	// on the first pass, the upload sends other bytes: refused.
	cr := &corruptOnReread{r: bytes.NewReader(data), data: data}
	err := e.bucket.Put(ctx, "corrupt.ndjson", cr, int64(len(data)), store.PutOptions{IfNoneMatch: true, ContentType: "application/x-ndjson"})
	var er minio.ErrorResponse
	if err == nil || !errors.As(err, &er) || (er.Code != "XAmzContentSHA256Mismatch" && er.Code != "BadDigest") {
		t.Fatalf("upload of bytes that differ from their checksums: %v, want XAmzContentSHA256Mismatch or BadDigest", err)
	}
	if cr.passes < 1 {
		t.Fatalf("the body was not read again after its checksums; the corruption was not exercised")
	}
	if _, err := e.bucket.Stat(ctx, "corrupt.ndjson"); !store.IsNotFound(err) {
		t.Fatalf("corrupt upload stored: %v", err)
	}
	t.Logf("corrupted upload refused by the server: %s", er.Code)

	// Single and multipart writes through the store: no Content-Encoding.
	big, err := store.NewS3(store.S3Options{Endpoint: s3Addr, Bucket: bucket, AccessKey: accessKey, SecretKey: secretKey, Region: "us-east-1", PartSize: 5 << 20})
	if err != nil {
		t.Fatal(err)
	}
	large := bytes.Repeat([]byte("0123456789abcdef"), (11<<20)/16)
	for _, w := range []struct {
		key  string
		body []byte
		opts store.PutOptions
	}{
		{"single.ndjson.gz", data, store.PutOptions{IfNoneMatch: true, ContentType: "application/gzip"}},
		{"multipart.ndjson.zst", large, store.PutOptions{ContentType: "application/zstd"}},
	} {
		if err := big.Put(ctx, w.key, bytes.NewReader(w.body), int64(len(w.body)), w.opts); err != nil {
			t.Fatalf("%s: %v", w.key, err)
		}
		info, err := big.Stat(ctx, w.key)
		if err != nil {
			t.Fatal(err)
		}
		if info.ContentEncoding != "" || info.ContentType != w.opts.ContentType || info.Size != int64(len(w.body)) {
			t.Errorf("%s: Content-Encoding %q, Content-Type %q, size %d", w.key, info.ContentEncoding, info.ContentType, info.Size)
		}
		rc, err := big.Get(ctx, w.key)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(rc)
		rc.Close()
		if !bytes.Equal(got, w.body) {
			t.Errorf("%s: read back %d bytes, differ from the %d written", w.key, len(got), len(w.body))
		}
	}
}

// TestExportHeadersObjectLock: versitygw creates buckets with Object Lock
// enabled and enforces retention; the exporter's writes (conditional, with
// checksums) are accepted there, with and without a default retention.
func TestExportHeadersObjectLock(t *testing.T) {
	mc := minioClient(t)
	ctx := context.Background()
	name := fmt.Sprintf("lock-%d", time.Now().UnixNano()%1e9)
	if err := mc.MakeBucket(ctx, name, minio.MakeBucketOptions{ObjectLocking: true}); err != nil {
		t.Fatalf("make an Object Lock bucket: %v", err)
	}
	status, _, _, _, err := mc.GetObjectLockConfig(ctx, name)
	if err != nil || status != "Enabled" {
		t.Fatalf("Object Lock configuration: %q, %v", status, err)
	}
	b, err := store.NewS3(store.S3Options{Endpoint: s3Addr, Bucket: name, AccessKey: accessKey, SecretKey: secretKey, Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	up := &pipeline.Uploader{Bucket: b, Schedule: [][]time.Duration{{100 * time.Millisecond}}}
	put := func(key string) {
		t.Helper()
		sp := pipeline.NewSpool(1<<20, "", nil)
		defer sp.Close()
		body := []byte(`{"hit":1}` + "\n")
		if _, err := sp.Write(body); err != nil {
			t.Fatal(err)
		}
		if err := sp.Flush(); err != nil {
			t.Fatal(err)
		}
		_, err := up.Upload(ctx, pipeline.Upload{Key: key, Spool: sp, Opts: store.PutOptions{ContentType: "application/x-ndjson",
			Metadata: map[string]string{pipeline.MetaFirstOffset: "0", pipeline.MetaLastOffset: "0"}},
			Range: pipeline.Range{First: 0, Last: 0}, Kind: pipeline.KindHits, Count: 1})
		if err != nil {
			t.Fatalf("upload %s into the Object Lock bucket: %v", key, err)
		}
		if info, err := b.Stat(ctx, key); err != nil || info.ContentEncoding != "" {
			t.Fatalf("%s: %+v, %v", key, info, err)
		}
	}
	put("hitlogs-0-t-0-0.ndjson")
	mode, days, unit := minio.Governance, uint(1), minio.Days
	if err := mc.SetObjectLockConfig(ctx, name, &mode, &days, &unit); err != nil {
		t.Fatalf("default retention: %v", err)
	}
	put("hitlogs-600-t-0-1.ndjson")
	// The lock is real: the retained object cannot be deleted plainly.
	if err := mc.RemoveObject(ctx, name, "hitlogs-600-t-0-1.ndjson", minio.RemoveObjectOptions{}); err == nil {
		t.Errorf("a retained object was deleted: Object Lock not enforced")
	} else {
		t.Logf("delete of a retained object refused: %v", err)
	}
	t.Cleanup(func() {
		for _, k := range []string{"hitlogs-0-t-0-0.ndjson", "hitlogs-600-t-0-1.ndjson"} {
			_ = mc.RemoveObject(context.Background(), name, k, minio.RemoveObjectOptions{GovernanceBypass: true})
		}
		_ = mc.RemoveBucket(context.Background(), name)
	})
}

// TestExportHeadersSSE: versitygw (posix) accepts writes asking for SSE-S3
// or SSE-KMS but does not encrypt or report encryption; the test proves the
// headers do not break writes there. That the headers are sent is proved by
// store's unit test against a recording server (TestS3PutSSE); encryption
// itself could not be tested here.
func TestExportHeadersSSE(t *testing.T) {
	e := newEnv(t, 1)
	ctx := context.Background()
	for _, c := range []struct{ sse, key string }{{store.SSES3, ""}, {store.SSEKMS, "alias/hitexport"}} {
		b, err := store.NewS3(store.S3Options{Endpoint: s3Addr, Bucket: e.bucket.Name(), AccessKey: accessKey, SecretKey: secretKey,
			Region: "us-east-1", SSE: c.sse, SSEKMSKeyID: c.key})
		if err != nil {
			t.Fatal(err)
		}
		key := "sse-" + c.sse + ".ndjson"
		if err := b.Put(ctx, key, strings.NewReader("{}\n"), 3, store.PutOptions{IfNoneMatch: true, ContentType: "application/x-ndjson"}); err != nil {
			t.Fatalf("SSE %s write: %v", c.sse, err)
		}
		oi, err := minioClient(t).StatObject(ctx, e.bucket.Name(), key, minio.StatObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("SSE %s: versitygw answers x-amz-server-side-encryption %q", c.sse, oi.Metadata.Get("X-Amz-Server-Side-Encryption"))
	}
}
