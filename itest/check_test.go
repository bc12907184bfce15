//go:build integration

package itest

import (
	"strings"
	"testing"
)

// TestCheck is "Test integration" against the real services: it passes on a
// good configuration (for every format) and fails with a message naming the
// problem otherwise; an invalid setting exits 2 naming the variable.
func TestCheck(t *testing.T) {
	e := newEnv(t, 1)
	for _, f := range []string{"json", "ndjson", "ocsf", "ocsf-json"} {
		out, code := e.runCombined(map[string]string{"HITEXPORT_FORMAT": f, "HITEXPORT_COMPRESSION": "zstd"}, "check")
		if code != 0 || !strings.Contains(out, "ok   s3-write") || !strings.Contains(out, "(deleted)") {
			t.Fatalf("check %s: exit %d\n%s", f, code, out)
		}
	}
	cases := []struct {
		name  string
		extra map[string]string
		code  int
		want  string
	}{
		{"missing topic", map[string]string{"HITEXPORT_KAFKA_TOPIC": "no-such-topic-x"}, 1, `topic "no-such-topic-x" not found`},
		{"kafka down", map[string]string{"HITEXPORT_KAFKA_BROKERS": "127.0.0.1:1"}, 1, "not reachable"},
		{"missing bucket", map[string]string{"HITEXPORT_S3_BUCKET": "no-such-bucket-x"}, 1, `bucket "no-such-bucket-x"`},
		{"wrong secret", map[string]string{"HITEXPORT_S3_SECRET_KEY": "Wr0ngSecret-7c1f"}, 1, "FAIL s3"},
		{"bad format", map[string]string{"HITEXPORT_FORMAT": "xml"}, 2, "HITEXPORT_FORMAT"},
		{"bad window", map[string]string{"HITEXPORT_WINDOW": "7m"}, 2, "HITEXPORT_WINDOW"},
		{"bad bool", map[string]string{"HITEXPORT_S3_TLS": "maybe"}, 2, "HITEXPORT_S3_TLS"},
		{"no secret", map[string]string{"HITEXPORT_S3_SECRET_KEY": ""}, 2, "HITEXPORT_S3_SECRET_KEY"},
	}
	for _, c := range cases {
		out, code := e.runCombined(c.extra, "check")
		if code != c.code || !strings.Contains(out, c.want) {
			t.Errorf("%s: exit %d (want %d), output lacks %q:\n%s", c.name, code, c.code, c.want, out)
		}
		if strings.Contains(out, "Wr0ngSecret-7c1f") || strings.Contains(out, secretKey+"\n") {
			t.Errorf("%s: secret in output:\n%s", c.name, out)
		}
		if c.code == 2 && strings.Count(strings.TrimSpace(out), "\n") != 0 {
			t.Errorf("%s: invalid config must be one line:\n%s", c.name, out)
		}
	}
}
