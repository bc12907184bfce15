package config_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hitexport/hitexport/config"
	"github.com/hitexport/hitexport/encoders"
)

const secret = "Sup3r-S3cret-Value-4711"

func base() map[string]string {
	return map[string]string{
		"HITEXPORT_S3_ACCESS_KEY": "AKIAEXAMPLE",
		"HITEXPORT_S3_SECRET_KEY": secret,
	}
}

func with(kv ...string) map[string]string {
	m := base()
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

func TestDefaults(t *testing.T) {
	cfg, err := config.Parse(base())
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name string
		got  any
		want any
	}{
		{"brokers", cfg.KafkaBrokers, []string{"127.0.0.1:9092"}},
		{"topic", cfg.KafkaTopic, "hits"},
		{"group", cfg.KafkaGroup, "hitexport"},
		{"endpoint", cfg.S3Endpoint, "127.0.0.1:9000"},
		{"bucket", cfg.S3Bucket, "hits"},
		{"tls", cfg.S3TLS, false},
		{"format", cfg.Format, "ndjson"},
		{"compression", cfg.Compression, "none"},
		{"prefix", cfg.KeyPrefix, ""},
		{"window", cfg.Window, 10 * time.Minute},
		{"layout", cfg.Layout, "window"},
		{"merge interval", cfg.MergeInterval, 30 * time.Second},
		{"merged retention", cfg.MergedRetention, 7 * 24 * time.Hour},
		{"http", cfg.HTTPAddr, ":8080"},
		{"secret", cfg.S3SecretKey, secret},
		{"threshold", cfg.FailureThreshold, 0.6},
		{"failure window", cfg.FailureWindow, 12 * time.Hour},
		{"retry", cfg.Retry, [][]time.Duration{
			{time.Second, 3 * time.Second, 5 * time.Second, 10 * time.Second, 10 * time.Second},
			{0, time.Second, 3 * time.Second, 5 * time.Second, 30 * time.Second},
			{time.Minute, time.Minute, 3 * time.Minute, 5 * time.Minute, 10 * time.Minute, 30 * time.Minute},
		}},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if cfg.AllowedLateness < 0 || cfg.IdleTimeout <= 0 || cfg.MaxObjectBytes < 1<<20 || cfg.MaxOpenObjects < 2 {
		t.Errorf("odd defaults: %+v", cfg)
	}
	if _, err := encoders.New(cfg.Format); err != nil {
		t.Error(err)
	}
}

func TestValidValues(t *testing.T) {
	tests := []struct {
		env   map[string]string
		check func(*config.Config) bool
	}{
		{with("HITEXPORT_KAFKA_BROKERS", "a:1,b:2"), func(c *config.Config) bool { return reflect.DeepEqual(c.KafkaBrokers, []string{"a:1", "b:2"}) }},
		{with("HITEXPORT_S3_TLS", "true"), func(c *config.Config) bool { return c.S3TLS }},
		{with("HITEXPORT_S3_TLS", "1"), func(c *config.Config) bool { return c.S3TLS }},
		{with("HITEXPORT_FORMAT", "json"), func(c *config.Config) bool { return c.Format == "json" }},
		{with("HITEXPORT_COMPRESSION", "zstd"), func(c *config.Config) bool { return c.Compression == "zstd" }},
		{with("HITEXPORT_WINDOW", "1h"), func(c *config.Config) bool { return c.Window == time.Hour }},
		{with("HITEXPORT_LAYOUT", "window"), func(c *config.Config) bool { return c.Layout == "window" }},
		{with("HITEXPORT_LAYOUT", "partition"), func(c *config.Config) bool { return c.Layout == "partition" }},
		{with("HITEXPORT_MERGE_INTERVAL", "5s"), func(c *config.Config) bool { return c.MergeInterval == 5*time.Second }},
		{with("HITEXPORT_MERGED_RETENTION", "720h"), func(c *config.Config) bool { return c.MergedRetention == 720*time.Hour }},
		{with("HITEXPORT_WINDOW", "1m"), func(c *config.Config) bool { return c.Window == time.Minute }},
		{with("HITEXPORT_WINDOW", "24h"), func(c *config.Config) bool { return c.Window == 24*time.Hour }},
		{with("HITEXPORT_ALLOWED_LATENESS", "0s"), func(c *config.Config) bool { return c.AllowedLateness == 0 }},
		{with("HITEXPORT_KEY_PREFIX", "exports/"), func(c *config.Config) bool { return c.KeyPrefix == "exports/" }},
		{with("HITEXPORT_RETRY_SCHEDULE", "1s; 2s,3s"), func(c *config.Config) bool {
			return reflect.DeepEqual(c.Retry, [][]time.Duration{{time.Second}, {2 * time.Second, 3 * time.Second}})
		}},
		{with("HITEXPORT_FAILURE_THRESHOLD", "1"), func(c *config.Config) bool { return c.FailureThreshold == 1 }},
	}
	for _, f := range encoders.Formats() {
		f := f
		tests = append(tests, struct {
			env   map[string]string
			check func(*config.Config) bool
		}{with("HITEXPORT_FORMAT", f), func(c *config.Config) bool { return c.Format == f }})
	}
	for i, tc := range tests {
		cfg, err := config.Parse(tc.env)
		if err != nil {
			t.Errorf("%d %v: %v", i, tc.env, err)
			continue
		}
		if !tc.check(cfg) {
			t.Errorf("%d %v: %+v", i, tc.env, cfg)
		}
	}
}

func TestInvalidValues(t *testing.T) {
	tests := []struct {
		env      map[string]string
		varName  string
		mentions []string
	}{
		{with("HITEXPORT_WINDOW", "7m"), "HITEXPORT_WINDOW", []string{"10m"}},
		{with("HITEXPORT_LAYOUT", "hourly"), "HITEXPORT_LAYOUT", []string{"partition", "window"}},
		{with("HITEXPORT_MERGE_INTERVAL", "0s"), "HITEXPORT_MERGE_INTERVAL", nil},
		{with("HITEXPORT_MERGED_RETENTION", "30m"), "HITEXPORT_MERGED_RETENTION", []string{"1h"}},
		{with("HITEXPORT_MERGED_RETENTION", "7d"), "HITEXPORT_MERGED_RETENTION", []string{"duration"}},
		{with("HITEXPORT_MERGED_RETENTION", "2h", "HITEXPORT_LATE_MAX_AGE", "3h"), "HITEXPORT_MERGED_RETENTION", []string{"LATE_MAX_AGE"}},
		{with("HITEXPORT_WINDOW", "0s"), "HITEXPORT_WINDOW", nil},
		{with("HITEXPORT_WINDOW", "500ms"), "HITEXPORT_WINDOW", nil},
		{with("HITEXPORT_WINDOW", "48h"), "HITEXPORT_WINDOW", nil},
		{with("HITEXPORT_WINDOW", "-10m"), "HITEXPORT_WINDOW", nil},
		{with("HITEXPORT_WINDOW", "ten minutes"), "HITEXPORT_WINDOW", []string{"duration"}},
		{with("HITEXPORT_WINDOW", "600"), "HITEXPORT_WINDOW", []string{"duration"}},
		{with("HITEXPORT_FORMAT", "xml"), "HITEXPORT_FORMAT", append([]string{"xml"}, encoders.Formats()...)},
		{with("HITEXPORT_FORMAT", "NDJSON"), "HITEXPORT_FORMAT", []string{"ndjson"}},
		{with("HITEXPORT_COMPRESSION", "lz4"), "HITEXPORT_COMPRESSION", []string{"none", "gzip", "zstd"}},
		{with("HITEXPORT_ALLOWED_LATENESS", "soon"), "HITEXPORT_ALLOWED_LATENESS", []string{"duration"}},
		{with("HITEXPORT_ALLOWED_LATENESS", "-1m"), "HITEXPORT_ALLOWED_LATENESS", nil},
		{with("HITEXPORT_IDLE_TIMEOUT", "0s"), "HITEXPORT_IDLE_TIMEOUT", nil},
		{with("HITEXPORT_IDLE_TIMEOUT", "1x"), "HITEXPORT_IDLE_TIMEOUT", []string{"duration"}},
		{with("HITEXPORT_S3_TLS", "maybe"), "HITEXPORT_S3_TLS", []string{"true or false"}},
		{with("HITEXPORT_S3_TLS", "yes"), "HITEXPORT_S3_TLS", []string{"true or false"}},
		{with("HITEXPORT_KAFKA_BROKERS", ","), "HITEXPORT_KAFKA_BROKERS", nil},
		{with("HITEXPORT_KAFKA_BROKERS", "localhost"), "HITEXPORT_KAFKA_BROKERS", []string{"host:port"}},
		{with("HITEXPORT_KAFKA_MIN_BYTES", "many"), "HITEXPORT_KAFKA_MIN_BYTES", []string{"whole number"}},
		{with("HITEXPORT_KAFKA_MAX_BYTES", "1000"), "HITEXPORT_KAFKA_MAX_BYTES", nil},
		{with("HITEXPORT_KAFKA_MAX_WAIT", "0s"), "HITEXPORT_KAFKA_MAX_WAIT", nil},
		{with("HITEXPORT_COMMIT_INTERVAL", "-1s"), "HITEXPORT_COMMIT_INTERVAL", nil},
		{with("HITEXPORT_COMMIT_INTERVAL", "2m"), "HITEXPORT_COMMIT_INTERVAL", nil},
		{with("HITEXPORT_S3_ENDPOINT", "http://minio:9000"), "HITEXPORT_S3_ENDPOINT", []string{"scheme"}},
		{with("HITEXPORT_S3_ACCESS_KEY", ""), "HITEXPORT_S3_ACCESS_KEY", nil},
		{with("HITEXPORT_S3_SECRET_KEY", ""), "HITEXPORT_S3_SECRET_KEY", nil},
		{map[string]string{"HITEXPORT_S3_ACCESS_KEY": "a"}, "HITEXPORT_S3_SECRET_KEY", nil},
		{map[string]string{"HITEXPORT_S3_SECRET_KEY": secret}, "HITEXPORT_S3_ACCESS_KEY", nil},
		{with("HITEXPORT_KEY_PREFIX", "/abs"), "HITEXPORT_KEY_PREFIX", nil},
		{with("HITEXPORT_MAX_RECORD_BYTES", "10"), "HITEXPORT_MAX_RECORD_BYTES", nil},
		{with("HITEXPORT_MAX_RECORD_BYTES", "1MB"), "HITEXPORT_MAX_RECORD_BYTES", []string{"whole number"}},
		{with("HITEXPORT_MAX_OBJECT_BYTES", "100"), "HITEXPORT_MAX_OBJECT_BYTES", nil},
		{with("HITEXPORT_MAX_OPEN_OBJECTS", "1"), "HITEXPORT_MAX_OPEN_OBJECTS", nil},
		{with("HITEXPORT_SPOOL_MEMORY", "-1"), "HITEXPORT_SPOOL_MEMORY", nil},
		{with("HITEXPORT_FETCH_BUFFER", "0"), "HITEXPORT_FETCH_BUFFER", nil},
		{with("HITEXPORT_RETRY_SCHEDULE", "1s,x"), "HITEXPORT_RETRY_SCHEDULE", []string{"x"}},
		{with("HITEXPORT_RETRY_SCHEDULE", "1s;;2s"), "HITEXPORT_RETRY_SCHEDULE", nil},
		{with("HITEXPORT_RETRY_SCHEDULE", "-1s"), "HITEXPORT_RETRY_SCHEDULE", nil},
		{with("HITEXPORT_FAILURE_THRESHOLD", "0"), "HITEXPORT_FAILURE_THRESHOLD", nil},
		{with("HITEXPORT_FAILURE_THRESHOLD", "1.5"), "HITEXPORT_FAILURE_THRESHOLD", nil},
		{with("HITEXPORT_FAILURE_THRESHOLD", "sixty"), "HITEXPORT_FAILURE_THRESHOLD", []string{"number"}},
		{with("HITEXPORT_FAILURE_WINDOW", "0s"), "HITEXPORT_FAILURE_WINDOW", nil},
		{with("HITEXPORT_SHUTDOWN_TIMEOUT", "0s"), "HITEXPORT_SHUTDOWN_TIMEOUT", nil},
		{with("HITEXPORT_LOG_FORMAT", "xml"), "HITEXPORT_LOG_FORMAT", []string{"json", "text"}},
		{with("HITEXPORT_LOG_LEVEL", "trace"), "HITEXPORT_LOG_LEVEL", []string{"debug", "info", "warn", "error"}},
		{with("HITEXPORT_LATE_MAX_AGE", "0s"), "HITEXPORT_LATE_MAX_AGE", nil},
		{with("HITEXPORT_MAX_FUTURE", "0s"), "HITEXPORT_MAX_FUTURE", nil},
		{with("HITEXPORT_S3_SECRET_KEY_FILE", "/nonexistent/secret"), "HITEXPORT_S3_SECRET_KEY_FILE", nil},
	}
	for _, tc := range tests {
		name := tc.varName
		for k, v := range tc.env {
			if k != "HITEXPORT_S3_ACCESS_KEY" && k != "HITEXPORT_S3_SECRET_KEY" {
				name += " " + k + "=" + v
			}
		}
		t.Run(name, func(t *testing.T) {
			cfg, err := config.Parse(tc.env)
			if err == nil {
				t.Fatalf("accepted: %+v", cfg)
			}
			if cfg != nil {
				t.Error("a config returned with an error")
			}
			var ce *config.Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %T %q is not a *config.Error", err, err)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, tc.varName+":") {
				t.Errorf("error %q does not start with the variable %s", msg, tc.varName)
			}
			if strings.ContainsAny(msg, "\n\r") {
				t.Errorf("error spans lines: %q", msg)
			}
			for _, m := range tc.mentions {
				if !strings.Contains(msg, m) {
					t.Errorf("error %q does not mention %q", msg, m)
				}
			}
			if strings.Contains(msg, secret) {
				t.Errorf("error leaks the secret: %q", msg)
			}
		})
	}
}

// Secrets with odd characters are taken verbatim, and no error caused by
// another variable ever shows them.
func TestSecretNeverInErrors(t *testing.T) {
	odd := []string{secret, "a,b;c=d", "with space", "ünïcödé-秘密", "$(rm -rf /)", `"quoted"`}
	invalid := [][2]string{{"WINDOW", "7m"}, {"S3_TLS", "maybe"}, {"FORMAT", "xml"}, {"COMPRESSION", "lz4"},
		{"KAFKA_MIN_BYTES", "x"}, {"FAILURE_THRESHOLD", "2"}, {"RETRY_SCHEDULE", "x"}, {"LOG_LEVEL", "x"},
		{"S3_ENDPOINT", "http://x"}, {"KAFKA_BROKERS", "x"}, {"KEY_PREFIX", "/x"}, {"IDLE_TIMEOUT", "x"},
		{"S3_BUCKET", ""}, {"MAX_OPEN_OBJECTS", "0"}}
	for _, sec := range odd {
		env := map[string]string{"HITEXPORT_S3_ACCESS_KEY": sec + "-access", "HITEXPORT_S3_SECRET_KEY": sec}
		cfg, err := config.Parse(env)
		if err != nil || cfg.S3SecretKey != sec || cfg.S3AccessKey != sec+"-access" {
			t.Fatalf("secret %q: %v", sec, err)
		}
		if s := fmt.Sprint(cfg.Redacted()); strings.Contains(s, sec) {
			t.Fatalf("Redacted shows %q: %s", sec, s)
		}
		for _, kv := range invalid {
			env := map[string]string{"HITEXPORT_S3_ACCESS_KEY": sec + "-access", "HITEXPORT_S3_SECRET_KEY": sec, "HITEXPORT_" + kv[0]: kv[1]}
			_, err := config.Parse(env)
			if err == nil {
				if kv[0] == "S3_BUCKET" { // empty means default for env
					continue
				}
				t.Fatalf("%s=%q accepted", kv[0], kv[1])
			}
			if strings.Contains(err.Error(), sec) {
				t.Errorf("%s=%q: error shows the secret: %q", kv[0], kv[1], err)
			}
		}
	}
}

// Required settings that have defaults can still be emptied by a caller
// that builds a Config directly: Validate names them.
func TestValidateRequired(t *testing.T) {
	tests := []struct {
		mutate  func(*config.Config)
		varName string
	}{
		{func(c *config.Config) { c.KafkaBrokers = nil }, "HITEXPORT_KAFKA_BROKERS"},
		{func(c *config.Config) { c.KafkaBrokers = []string{""} }, "HITEXPORT_KAFKA_BROKERS"},
		{func(c *config.Config) { c.KafkaTopic = "" }, "HITEXPORT_KAFKA_TOPIC"},
		{func(c *config.Config) { c.KafkaGroup = "" }, "HITEXPORT_KAFKA_GROUP"},
		{func(c *config.Config) { c.S3Endpoint = "" }, "HITEXPORT_S3_ENDPOINT"},
		{func(c *config.Config) { c.S3Bucket = "" }, "HITEXPORT_S3_BUCKET"},
		{func(c *config.Config) { c.RetrySchedule = "" }, "HITEXPORT_RETRY_SCHEDULE"},
		{func(c *config.Config) { c.Format = "" }, "HITEXPORT_FORMAT"},
		{func(c *config.Config) { c.Compression = "" }, "HITEXPORT_COMPRESSION"},
	}
	for _, tc := range tests {
		cfg, err := config.Parse(base())
		if err != nil {
			t.Fatal(err)
		}
		tc.mutate(cfg)
		err = cfg.Validate()
		var ce *config.Error
		if !errors.As(err, &ce) || !strings.HasPrefix(err.Error(), tc.varName+":") {
			t.Errorf("%s: %v", tc.varName, err)
		}
	}
}

func TestRedacted(t *testing.T) {
	cfg, err := config.Parse(base())
	if err != nil {
		t.Fatal(err)
	}
	red := cfg.Redacted()
	s := fmt.Sprint(red)
	if strings.Contains(s, secret) || strings.Contains(s, "AKIAEXAMPLE") {
		t.Fatalf("Redacted leaks a secret: %s", s)
	}
	if red["s3_secret_key"] != "[redacted]" || red["s3_access_key"] != "[redacted]" {
		t.Fatalf("%v", red)
	}
	if red["s3_bucket"] != "hits" || red["format"] != "ndjson" || red["window"] != "10m0s" {
		t.Fatalf("%v", red)
	}
	cfg.S3SecretKey = ""
	if cfg.Redacted()["s3_secret_key"] != "[unset]" {
		t.Fatal("unset secret")
	}
}

func TestSecretFiles(t *testing.T) {
	dir := t.TempDir()
	sf := filepath.Join(dir, "secret")
	af := filepath.Join(dir, "access")
	if err := os.WriteFile(sf, []byte(secret+"\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(af, []byte("AKIAFILE\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse(map[string]string{"HITEXPORT_S3_ACCESS_KEY_FILE": af, "HITEXPORT_S3_SECRET_KEY_FILE": sf})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.S3SecretKey != secret || cfg.S3AccessKey != "AKIAFILE" {
		t.Fatalf("from files: %q %q", cfg.S3AccessKey, cfg.S3SecretKey)
	}
	// A file that is empty leaves the secret missing: an error naming it.
	empty := filepath.Join(dir, "empty")
	_ = os.WriteFile(empty, nil, 0o600)
	_, err = config.Parse(map[string]string{"HITEXPORT_S3_ACCESS_KEY": "a", "HITEXPORT_S3_SECRET_KEY_FILE": empty})
	if err == nil || !strings.Contains(err.Error(), "HITEXPORT_S3_SECRET_KEY") {
		t.Fatalf("empty secret file: %v", err)
	}
	// A missing file names the _FILE variable and does not leak anything.
	_, err = config.Parse(map[string]string{"HITEXPORT_S3_ACCESS_KEY": "a", "HITEXPORT_S3_SECRET_KEY_FILE": filepath.Join(dir, "nope")})
	var ce *config.Error
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "HITEXPORT_S3_SECRET_KEY_FILE") {
		t.Fatalf("missing file: %v", err)
	}
	// A directory is not a readable secret file.
	_, err = config.Parse(map[string]string{"HITEXPORT_S3_ACCESS_KEY": "a", "HITEXPORT_S3_SECRET_KEY_FILE": dir})
	if !errors.As(err, &ce) {
		t.Fatalf("directory as secret file: %v", err)
	}
}

// nil environ reads the process environment.
func TestParseFromProcessEnv(t *testing.T) {
	t.Setenv("HITEXPORT_S3_ACCESS_KEY", "a")
	t.Setenv("HITEXPORT_S3_SECRET_KEY", "b")
	t.Setenv("HITEXPORT_WINDOW", "5m")
	cfg, err := config.Parse(nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Window != 5*time.Minute || cfg.S3SecretKey != "b" {
		t.Fatalf("%+v", cfg)
	}
	t.Setenv("HITEXPORT_WINDOW", "7m")
	if _, err := config.Parse(nil); err == nil || !strings.Contains(err.Error(), "HITEXPORT_WINDOW") {
		t.Fatalf("7m: %v", err)
	}
}

func TestParseSchedule(t *testing.T) {
	got, err := config.ParseSchedule("1s,3s;0s")
	if err != nil || !reflect.DeepEqual(got, [][]time.Duration{{time.Second, 3 * time.Second}, {0}}) {
		t.Fatalf("%v %v", got, err)
	}
	for _, bad := range []string{"", ";", "1s;", "1s,,2s", "abc", "-1s", "1"} {
		if got, err := config.ParseSchedule(bad); err == nil {
			t.Errorf("ParseSchedule(%q) = %v", bad, got)
		}
	}
}
