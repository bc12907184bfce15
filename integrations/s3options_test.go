package integrations

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

const (
	testRoleARN = "arn:aws:iam::111122223333:role/hitexport-writer"
	testExtID   = "ext-secret-7c1d2e"
)

func destBody(extra string) string {
	return `{"name":"n","destination":{"endpoint":"h","bucket":"acme","access_key":"a","secret_key":"s"` + extra + `}}`
}

func TestS3OptionsValidation(t *testing.T) {
	bad := []struct{ extra, field, msg string }{
		{`,"sse":"aes256"`, "destination.sse", "accepted none, s3"},
		{`,"sse":"KMS"`, "destination.sse", ""},
		{`,"sse_kms_key_id":"alias/x"`, "destination.sse_kms_key_id", "only with sse kms"},
		{`,"sse":"s3","sse_kms_key_id":"alias/x"`, "destination.sse_kms_key_id", "only with sse kms"},
		{`,"sse":"kms","sse_kms_key_id":"alias/has space"`, "destination.sse_kms_key_id", ""},
		{`,"role_arn":"arn:aws:iam::1111:role/x"`, "destination.role_arn", "IAM role ARN"},
		{`,"role_arn":"arn:aws:iam::111122223333:user/x"`, "destination.role_arn", ""},
		{`,"role_arn":"arn:aws:s3:::acme"`, "destination.role_arn", ""},
		{`,"role_arn":"role/x"`, "destination.role_arn", ""},
		{`,"external_id":"` + testExtID + `"`, "destination.external_id", "role_arn is empty"},
		{`,"role_arn":"` + testRoleARN + `","external_id":"x"`, "destination.external_id", "2 to 1224"},
		{`,"role_arn":"` + testRoleARN + `","external_id":"ext secret"`, "destination.external_id", ""},
		{`,"role_arn":"` + testRoleARN + `","external_id":"` + strings.Repeat("e", 1225) + `"`, "destination.external_id", ""},
		{`,"sts_endpoint":"https://sts.amazonaws.com"`, "destination.sts_endpoint", "role_arn is empty"},
		{`,"role_arn":"` + testRoleARN + `","sts_endpoint":"sts.amazonaws.com"`, "destination.sts_endpoint", "http(s) URL"},
		{`,"role_arn":"` + testRoleARN + `","sts_endpoint":"ftp://sts.amazonaws.com"`, "destination.sts_endpoint", ""},
		{`,"role_arn":"` + testRoleARN + `","sts_endpoint":"https://sts.amazonaws.com/x"`, "destination.sts_endpoint", ""},
		{`,"role_arn":"` + testRoleARN + `","sts_endpoint":"https://u:p@sts.amazonaws.com"`, "destination.sts_endpoint", ""},
		{`,"role_arn":"` + testRoleARN + `","sts_endpoint":"https://sts.amazonaws.com?x=1"`, "destination.sts_endpoint", ""},
		{`,"role_session_name":"x"`, "destination.role_session_name", "2 to 64"},
		{`,"role_session_name":"has space"`, "destination.role_session_name", ""},
		{`,"role_session_name":"` + strings.Repeat("s", 65) + `"`, "destination.role_session_name", ""},
	}
	for _, c := range bad {
		_, err := New(decodePatch(t, destBody(c.extra)), Defaults{Topic: "hits"}, now)
		fe, ok := err.(*FieldError)
		if !ok || fe.Field != c.field || !strings.Contains(fe.Message, c.msg) {
			t.Errorf("%s: got %v, want a field error on %s (%q)", c.extra, err, c.field, c.msg)
			continue
		}
		if strings.Contains(fe.Message, "ext-secret") || strings.Contains(fe.Message, "ext secret") {
			t.Errorf("message echoes the external id: %s", fe.Message)
		}
	}
	good := []string{
		``,
		`,"sse":"none"`,
		`,"sse":"s3"`,
		`,"sse":"kms"`,
		`,"sse":"kms","sse_kms_key_id":"arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"`,
		`,"role_arn":"` + testRoleARN + `"`,
		`,"role_arn":"arn:aws-cn:iam::111122223333:role/path/to/writer.role@x"`,
		`,"role_arn":"arn:aws-us-gov:iam::111122223333:role/w","external_id":"` + testExtID + `","role_session_name":"hx=acme,1@x.y-z","sts_endpoint":"https://sts.us-gov-west-1.amazonaws.com/"`,
		`,"role_arn":"` + testRoleARN + `","sts_endpoint":"http://127.0.0.1:9000"`,
	}
	for _, g := range good {
		if _, err := New(decodePatch(t, destBody(g)), Defaults{Topic: "hits"}, now); err != nil {
			t.Errorf("%s: %v", g, err)
		}
	}
}

func TestS3OptionsDefaults(t *testing.T) {
	it, err := New(decodePatch(t, validBody), Defaults{Topic: "hits"}, now)
	if err != nil {
		t.Fatal(err)
	}
	if d := it.Destination; d.SSE != "none" || d.RoleSessionName != "hitexport" || d.RoleARN != "" || d.SSEKMSKeyID != "" || d.STSEndpoint != "" {
		t.Fatalf("defaults: %+v", d)
	}
	// an empty sse and session name (as a record of an older build) are valid
	it.Destination.SSE, it.Destination.RoleSessionName = "", ""
	if err := it.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestS3OptionsPatch(t *testing.T) {
	it, err := New(decodePatch(t, destBody(`,"sse":"kms","sse_kms_key_id":"alias/a","role_arn":"`+testRoleARN+`","external_id":"`+testExtID+`","sts_endpoint":"https://sts.eu-west-1.amazonaws.com"`)), Defaults{Topic: "hits"}, now)
	if err != nil {
		t.Fatal(err)
	}
	later := now.Add(time.Hour)
	// partial updates keep the other values; a blank external_id keeps the stored one
	up, err := it.Apply(decodePatch(t, `{"destination":{"bucket":"other","external_id":"","role_session_name":"hx-acme"}}`), Defaults{Topic: "hits"}, later)
	if err != nil {
		t.Fatal(err)
	}
	if d := up.Destination; d.ExternalID != testExtID || d.RoleARN != testRoleARN || d.SSE != "kms" || d.SSEKMSKeyID != "alias/a" ||
		d.STSEndpoint != "https://sts.eu-west-1.amazonaws.com" || d.RoleSessionName != "hx-acme" || d.Bucket != "other" {
		t.Fatalf("patch lost fields: %+v", d)
	}
	if it.Destination.RoleSessionName != "hitexport" {
		t.Error("Apply modified its receiver")
	}
	// an omitted external_id keeps it too; a new one replaces it
	up, _ = up.Apply(decodePatch(t, `{"format":"json"}`), Defaults{Topic: "hits"}, later)
	if up.Destination.ExternalID != testExtID {
		t.Fatal("omitted external_id lost the stored one")
	}
	rot, _ := up.Apply(decodePatch(t, `{"destination":{"external_id":"ext-new-1"}}`), Defaults{Topic: "hits"}, later)
	if rot.Destination.ExternalID != "ext-new-1" {
		t.Fatal("a new external_id must replace the stored one")
	}
	// an empty role_session_name is its default again
	def, _ := up.Apply(decodePatch(t, `{"destination":{"role_session_name":""}}`), Defaults{Topic: "hits"}, later)
	if def.Destination.RoleSessionName != "hitexport" {
		t.Fatalf("role_session_name: %q", def.Destination.RoleSessionName)
	}
	// sse s3 without a key id drops the KMS key id; with one it is refused
	s3, err := up.Apply(decodePatch(t, `{"destination":{"sse":"s3"}}`), Defaults{Topic: "hits"}, later)
	if err != nil || s3.Destination.SSE != "s3" || s3.Destination.SSEKMSKeyID != "" {
		t.Fatalf("sse s3: %v %+v", err, s3.Destination)
	}
	if _, err := up.Apply(decodePatch(t, `{"destination":{"sse":"s3","sse_kms_key_id":"alias/a"}}`), Defaults{Topic: "hits"}, later); err == nil || err.(*FieldError).Field != "destination.sse_kms_key_id" {
		t.Fatalf("sse s3 with a key id: %v", err)
	}
	// sse kms again keeps no key (the bucket's default)
	kms, err := s3.Apply(decodePatch(t, `{"destination":{"sse":"kms"}}`), Defaults{Topic: "hits"}, later)
	if err != nil || kms.Destination.SSEKMSKeyID != "" {
		t.Fatalf("sse kms: %v %+v", err, kms.Destination)
	}
	// removing the role removes its external id and STS endpoint
	norole, err := up.Apply(decodePatch(t, `{"destination":{"role_arn":""}}`), Defaults{Topic: "hits"}, later)
	if err != nil || norole.Destination.ExternalID != "" || norole.Destination.STSEndpoint != "" || norole.Destination.RoleARN != "" {
		t.Fatalf("role removed: %v %+v", err, norole.Destination)
	}
	if _, err := up.Apply(decodePatch(t, `{"destination":{"role_arn":"","sts_endpoint":"https://sts.amazonaws.com"}}`), Defaults{Topic: "hits"}, later); err == nil || err.(*FieldError).Field != "destination.sts_endpoint" {
		t.Fatalf("role removed with an sts endpoint: %v", err)
	}
	// a changed role keeps the external id
	other, err := up.Apply(decodePatch(t, `{"destination":{"role_arn":"arn:aws:iam::111122223333:role/other"}}`), Defaults{Topic: "hits"}, later)
	if err != nil || other.Destination.ExternalID != testExtID {
		t.Fatalf("role changed: %v %+v", err, other.Destination)
	}
	// a GET body sent back keeps everything (external_id_set is ignored)
	back, _ := json.Marshal(up.WithStatus(Status{State: StateActive}))
	same, err := up.Apply(decodePatch(t, string(back)), Defaults{Topic: "hits"}, later)
	if err != nil || same.Destination != up.Destination {
		t.Fatalf("a GET body sent back: %v\n got %+v\nwant %+v", err, same.Destination, up.Destination)
	}
}

func TestExternalIDNeverPrinted(t *testing.T) {
	it, err := New(decodePatch(t, destBody(`,"sse":"kms","role_arn":"`+testRoleARN+`","external_id":"`+testExtID+`"`)), Defaults{Topic: "hits"}, now)
	if err != nil {
		t.Fatal(err)
	}
	var logBuf, textBuf bytes.Buffer
	slog.New(slog.NewJSONHandler(&logBuf, nil)).Info("x", "integration", it, "dest", it.Destination)
	slog.New(slog.NewTextHandler(&textBuf, nil)).Info("x", "integration", it, "dest", it.Destination)
	j, _ := json.Marshal(it)
	jd, _ := json.Marshal(it.Destination)
	outs := map[string]string{"json": string(j), "json dest": string(jd), "%v": fmt.Sprintf("%v", it), "%+v": fmt.Sprintf("%+v", it),
		"%#v": fmt.Sprintf("%#v", it), "%s dest": fmt.Sprintf("%s", it.Destination), "%#v dest": fmt.Sprintf("%#v", it.Destination),
		"slog json": logBuf.String(), "slog text": textBuf.String()}
	for k, o := range outs {
		if strings.Contains(o, testExtID) {
			t.Errorf("%s output holds the external id: %s", k, o)
		}
	}
	for _, want := range []string{`"external_id_set":true`, `"role_arn":"` + testRoleARN + `"`, `"sse":"kms"`, `"role_session_name":"hitexport"`} {
		if !strings.Contains(string(j), want) {
			t.Errorf("json lacks %s: %s", want, j)
		}
	}
	if !strings.Contains(logBuf.String(), `"role_arn":"`+testRoleARN+`"`) || !strings.Contains(logBuf.String(), `"external_id_set":true`) {
		t.Errorf("slog lacks the role: %s", logBuf.String())
	}
	var back Integration
	if err := json.Unmarshal(j, &back); err != nil || !back.Destination.View().ExternalIDSet || back.Destination.ExternalID != "" {
		t.Errorf("a decoded GET body must keep external_id_set: %v %+v", err, back.Destination)
	}
	r := it.Redacted()
	if r.Destination.ExternalID != "" || !r.Destination.View().ExternalIDSet || r.Destination.RoleARN != testRoleARN {
		t.Errorf("Redacted keeps the external id or loses external_id_set: %+v", r.Destination)
	}
	if it.Destination.ExternalID != testExtID {
		t.Error("Redacted modified its receiver")
	}
	plain, _ := New(decodePatch(t, validBody), Defaults{Topic: "hits"}, now)
	if pj, _ := json.Marshal(plain); !strings.Contains(string(pj), `"external_id_set":false`) {
		t.Errorf("no external id: %s", pj)
	}
}
