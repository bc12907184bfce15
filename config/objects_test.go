package config_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/hitexport/hitexport/config"
)

// The object settings: defaults keep today's keys and writes, and every bad
// value is one line naming the variable.
func TestObjectSettings(t *testing.T) {
	cfg, err := config.Parse(base())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.KeyTemplate != "hitlogs-{timestamp}{ext}" || cfg.S3SSE != "none" || cfg.S3RoleARN != "" || cfg.S3RoleSessionName != "hitexport" {
		t.Fatalf("defaults: %q %q %q %q", cfg.KeyTemplate, cfg.S3SSE, cfg.S3RoleARN, cfg.S3RoleSessionName)
	}
	const role = "arn:aws:iam::123456789012:role/hitexport-writer"
	good := []map[string]string{
		{"KEY_TEMPLATE": "dt={yyyy}-{mm}-{dd}/hour={hh}/hitlogs-{timestamp}{ext}"},
		{"KEY_TEMPLATE": "{integration}/{yyyy}/{mm}/{dd}/{hh}/hitlogs-{timestamp}{ext}"},
		{"S3_SSE": "s3"},
		{"S3_SSE": "kms"},
		{"S3_SSE": "kms", "S3_SSE_KMS_KEY_ID": "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"},
		{"S3_SSE": "kms", "S3_SSE_KMS_KEY_ID": "alias/hitexport"},
		{"S3_ROLE_ARN": role},
		{"S3_ROLE_ARN": "arn:aws-cn:iam::123456789012:role/path/to/role", "S3_EXTERNAL_ID": "f3a9c1d2-7b44", "S3_ROLE_SESSION_NAME": "hitexport-acme",
			"S3_STS_ENDPOINT": "https://sts.eu-west-1.amazonaws.com"},
		{"S3_ROLE_ARN": role, "S3_STS_ENDPOINT": "http://127.0.0.1:9001/"},
	}
	for _, g := range good {
		env := base()
		for k, v := range g {
			env["HITEXPORT_"+k] = v
		}
		if _, err := config.Parse(env); err != nil {
			t.Errorf("%v refused: %v", g, err)
		}
	}
	const extSecret = "customer-external-id-9f8e7d"
	bad := []struct {
		set  map[string]string
		name string
		msg  string
	}{
		{map[string]string{"KEY_TEMPLATE": "dt={yy}/hitlogs-{timestamp}{ext}"}, "KEY_TEMPLATE", "unknown placeholder {yy}"},
		{map[string]string{"KEY_TEMPLATE": "dt={yyyy}/data{ext}"}, "KEY_TEMPLATE", "must be exactly hitlogs-{timestamp}{ext}"},
		{map[string]string{"KEY_TEMPLATE": "dt={yyyy}/hitlogs-{timestamp}"}, "KEY_TEMPLATE", "must be exactly"},
		{map[string]string{"KEY_TEMPLATE": "a b/hitlogs-{timestamp}{ext}"}, "KEY_TEMPLATE", "not allowed in keys"},
		{map[string]string{"S3_SSE": "aes256"}, "S3_SSE", `unknown "aes256": accepted none, s3 (SSE-S3), kms (SSE-KMS)`},
		{map[string]string{"S3_SSE_KMS_KEY_ID": "alias/x"}, "S3_SSE_KMS_KEY_ID", "HITEXPORT_S3_SSE is none"},
		{map[string]string{"S3_SSE": "s3", "S3_SSE_KMS_KEY_ID": "alias/x"}, "S3_SSE_KMS_KEY_ID", "HITEXPORT_S3_SSE is s3"},
		{map[string]string{"S3_SSE": "kms", "S3_SSE_KMS_KEY_ID": "a b"}, "S3_SSE_KMS_KEY_ID", "without spaces"},
		{map[string]string{"S3_ROLE_ARN": "hitexport-writer"}, "S3_ROLE_ARN", "must be a role ARN"},
		{map[string]string{"S3_ROLE_ARN": "arn:aws:iam::123:role/x"}, "S3_ROLE_ARN", "must be a role ARN"},
		{map[string]string{"S3_EXTERNAL_ID": extSecret}, "S3_EXTERNAL_ID", "HITEXPORT_S3_ROLE_ARN is empty"},
		{map[string]string{"S3_STS_ENDPOINT": "https://sts.amazonaws.com"}, "S3_STS_ENDPOINT", "HITEXPORT_S3_ROLE_ARN is empty"},
		{map[string]string{"S3_ROLE_ARN": role, "S3_EXTERNAL_ID": extSecret + " with space"}, "S3_EXTERNAL_ID", "2 to 1224 characters"},
		{map[string]string{"S3_ROLE_ARN": role, "S3_ROLE_SESSION_NAME": "a"}, "S3_ROLE_SESSION_NAME", "2 to 64 characters"},
		{map[string]string{"S3_ROLE_ARN": role, "S3_ROLE_SESSION_NAME": "has space"}, "S3_ROLE_SESSION_NAME", "2 to 64 characters"},
		{map[string]string{"S3_ROLE_ARN": role, "S3_STS_ENDPOINT": "sts.amazonaws.com"}, "S3_STS_ENDPOINT", "http(s) URL"},
		{map[string]string{"S3_ROLE_ARN": role, "S3_STS_ENDPOINT": "https://sts.amazonaws.com/x"}, "S3_STS_ENDPOINT", "without path"},
	}
	for _, b := range bad {
		env := base()
		for k, v := range b.set {
			env["HITEXPORT_"+k] = v
		}
		_, err := config.Parse(env)
		var ce *config.Error
		if !errors.As(err, &ce) || ce.Var != b.name || !strings.Contains(err.Error(), b.msg) {
			t.Errorf("%v: %v, want %s: …%s…", b.set, err, b.name, b.msg)
			continue
		}
		if strings.Contains(err.Error(), "\n") || strings.Contains(err.Error(), extSecret) {
			t.Errorf("%v: %q is not one line without the external id", b.set, err)
		}
	}
	env := base()
	env["HITEXPORT_S3_ROLE_ARN"], env["HITEXPORT_S3_EXTERNAL_ID"] = role, extSecret
	cfg, err = config.Parse(env)
	if err != nil {
		t.Fatal(err)
	}
	red := cfg.Redacted()
	if red["s3_external_id"] != "[redacted]" || red["s3_role_arn"] != role || red["key_template"] != "hitlogs-{timestamp}{ext}" {
		t.Errorf("Redacted: %v", red)
	}
}
