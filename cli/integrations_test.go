package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hitexport/hitexport/integrations"
	"github.com/hitexport/hitexport/registry"
	"github.com/hitexport/hitexport/store"
)

const (
	itRoleARN = "arn:aws:iam::111122223333:role/hitexport-writer"
	itExtID   = "ext-cli-5d3c"
)

// fakeAWS is an STS endpoint (AssumeRole, form checked) and an S3 server
// (answers 200 and keeps the requests) in one.
type fakeAWS struct {
	mu   sync.Mutex
	sts  []url.Values
	puts []http.Header
}

func (f *fakeAWS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.Method == http.MethodPost && r.URL.Path == "/" {
		r.ParseForm()
		f.sts = append(f.sts, r.PostForm)
		fmt.Fprintf(w, `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult><Credentials>`+
			`<AccessKeyId>ASIATEMP1</AccessKeyId><SecretAccessKey>tempsecret1</SecretAccessKey><SessionToken>token1</SessionToken>`+
			`<Expiration>%s</Expiration></Credentials></AssumeRoleResult></AssumeRoleResponse>`, time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
		return
	}
	io.Copy(io.Discard, r.Body)
	if r.Method == http.MethodPut {
		f.puts = append(f.puts, r.Header.Clone())
	}
	w.Header().Set("ETag", `"0123456789abcdef0123456789abcdef"`)
	w.WriteHeader(http.StatusOK)
}

// integrationBucket passes the destination's SSE and AssumeRole settings to
// the store: the write asks for SSE-KMS with the key, and is signed with the
// role's temporary credentials obtained from the destination's STS endpoint
// with its role ARN, external id and session name.
func TestIntegrationBucketSSEAndRole(t *testing.T) {
	aws := &fakeAWS{}
	srv := httptest.NewServer(aws)
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	d := integrations.Destination{Endpoint: u.Host, Bucket: "acme", Region: "eu-west-1", AccessKey: "AKSTATIC", SecretKey: "static-secret",
		SSE: "kms", SSEKMSKeyID: "alias/acme-logs", RoleARN: itRoleARN, ExternalID: itExtID, RoleSessionName: "hx-acme", STSEndpoint: srv.URL}
	b, err := integrationBucket(d)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Put(context.Background(), "k", strings.NewReader("abc"), 3, store.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	aws.mu.Lock()
	defer aws.mu.Unlock()
	if len(aws.sts) != 1 || len(aws.puts) != 1 {
		t.Fatalf("%d AssumeRole calls, %d PUTs", len(aws.sts), len(aws.puts))
	}
	for k, want := range map[string]string{"Action": "AssumeRole", "RoleArn": itRoleARN, "ExternalId": itExtID, "RoleSessionName": "hx-acme"} {
		if got := aws.sts[0].Get(k); got != want {
			t.Errorf("AssumeRole %s = %q, want %q", k, got, want)
		}
	}
	h := aws.puts[0]
	if h.Get("X-Amz-Server-Side-Encryption") != "aws:kms" || h.Get("X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id") != "alias/acme-logs" {
		t.Errorf("PUT without the SSE-KMS headers: %v", h)
	}
	if h.Get("X-Amz-Security-Token") != "token1" || !strings.Contains(h.Get("Authorization"), "Credential=ASIATEMP1/") {
		t.Errorf("PUT not signed with the role's credentials: %q %q", h.Get("Authorization"), h.Get("X-Amz-Security-Token"))
	}
}

// Without SSE and a role, writes are signed with the static keys and ask
// for no encryption (as before).
func TestIntegrationBucketPlain(t *testing.T) {
	aws := &fakeAWS{}
	srv := httptest.NewServer(aws)
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	b, err := integrationBucket(integrations.Destination{Endpoint: u.Host, Bucket: "acme", Region: "us-east-1", AccessKey: "AKSTATIC", SecretKey: "static-secret",
		SSE: "none", RoleSessionName: "hitexport"})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Put(context.Background(), "k", strings.NewReader("abc"), 3, store.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	aws.mu.Lock()
	defer aws.mu.Unlock()
	if len(aws.sts) != 0 || len(aws.puts) != 1 {
		t.Fatalf("%d AssumeRole calls, %d PUTs", len(aws.sts), len(aws.puts))
	}
	if h := aws.puts[0]; h.Get("X-Amz-Server-Side-Encryption") != "" || h.Get("X-Amz-Security-Token") != "" || !strings.Contains(h.Get("Authorization"), "Credential=AKSTATIC/") {
		t.Errorf("plain PUT: %v", h)
	}
	if o := integrationS3Options(integrations.Destination{SSE: "s3", RoleARN: itRoleARN, ExternalID: itExtID, RoleSessionName: "n1", STSEndpoint: "http://sts"}); o.SSE != "s3" ||
		o.Role != (store.AssumeRole{RoleARN: itRoleARN, ExternalID: itExtID, SessionName: "n1", STSEndpoint: "http://sts"}) {
		t.Errorf("options: %+v", o)
	}
}

// In env mode the default integration carries HITEXPORT_S3_SSE,
// HITEXPORT_S3_ROLE_ARN and the rest.
func TestOpenRegistryEnvS3Options(t *testing.T) {
	cfg := parse(t, map[string]string{"HITEXPORT_S3_SSE": "kms", "HITEXPORT_S3_SSE_KMS_KEY_ID": "alias/k", "HITEXPORT_S3_ROLE_ARN": itRoleARN,
		"HITEXPORT_S3_EXTERNAL_ID": itExtID, "HITEXPORT_S3_ROLE_SESSION_NAME": "hx-env", "HITEXPORT_S3_STS_ENDPOINT": "https://sts.eu-west-1.amazonaws.com"})
	reg, err := OpenRegistry(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	it, err := reg.Get(context.Background(), registry.DefaultID)
	if err != nil {
		t.Fatal(err)
	}
	if d := it.Destination; d.SSE != "kms" || d.SSEKMSKeyID != "alias/k" || d.RoleARN != itRoleARN || d.ExternalID != itExtID ||
		d.RoleSessionName != "hx-env" || d.STSEndpoint != "https://sts.eu-west-1.amazonaws.com" {
		t.Fatalf("default integration: %+v", d)
	}
}
